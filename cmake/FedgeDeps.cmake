# All third-party dependencies come from Debian 12 packages (see scripts/setup).
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(FlatBuffers CONFIG REQUIRED)
find_program(FLATC flatc REQUIRED)
find_package(RocksDB CONFIG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(GTest REQUIRED)
find_package(tomlplusplus CONFIG REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
# Camera I/O (client frame sources) and image processing (shared/vision) only.
find_package(OpenCV 4 REQUIRED COMPONENTS core imgproc imgcodecs videoio)
