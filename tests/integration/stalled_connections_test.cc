// Issue 16's load test: 2,000 connections that stall (before the TLS handshake, in the middle of
// it, and after it with a stolen site key) against a real fedge-coordinator process, while 10
// honest fedge-client processes finish a round. The coordinator must finish the round, stay
// under one core and bounded memory, and refuse what is over its caps.
//
// Loopback only: the stalled connections come from 127.0.0.2-41 (the whole 127/8 reaches the
// loopback interface on Linux), 50 per address, under limits.max_connections_per_address.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

using std::chrono::seconds;

// A TCP connection from `source` to 127.0.0.1:port (-1 if it could not be opened).
int ConnectFrom(const std::string& source, uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Sample {
  double cpu_seconds = 0;  // user + system
  uint64_t rss_bytes = 0;
};

// The CPU time and resident set of process `pid`, from /proc.
bool SampleProcess(pid_t pid, Sample* out) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  out->cpu_seconds =
      static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) out->rss_bytes = std::stoull(line.substr(6)) * 1024;
  }
  return true;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(StalledConnectionsTest, TenSitesFinishTheirRoundBeside2000StalledConnections) {
  // Descriptors: 2,000 here and 2,000 in the coordinator (which inherits this limit).
  rlimit files{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &files), 0);
  if (files.rlim_cur < 8192) {
    files.rlim_cur = std::min<rlim_t>(files.rlim_max, 8192);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &files), 0);
  }
  if (files.rlim_cur < 4500) GTEST_SKIP() << "needs 4,500 descriptors; the hard limit is lower";

  constexpr int kHonest = 10;
  TempDir dir("stalled");
  ProcessProject project(dir.path(), kHonest + 1, /*rounds=*/1, /*min_clients=*/kHonest);
  auto coordinator = project.StartCoordinator("load");
  const std::string log = project.Log("coordinator-load");
  ASSERT_TRUE(WaitForLog(log, 0, {"listening on"}, seconds(60))) << ReadAll(log);
  Sample first;
  ASSERT_TRUE(SampleProcess(coordinator->pid(), &first));
  const auto start = std::chrono::steady_clock::now();

  // 1,000 that never send a byte, 1,000 that send the start of a TLS record and stop.
  std::vector<int> stalled;
  const unsigned char partial_hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  for (int a = 0; a < 40; ++a) {
    const std::string source = "127.0.0." + std::to_string(2 + a);
    for (int i = 0; i < 50; ++i) {
      const int fd = ConnectFrom(source, project.port());
      ASSERT_GE(fd, 0) << "connection " << stalled.size() << " from " << source;
      if (a >= 20) {
        ASSERT_EQ(::send(fd, partial_hello, sizeof partial_hello, MSG_NOSIGNAL), 6);
      }
      stalled.push_back(fd);
    }
  }
  // 20 after the handshake with one site's key (stolen): at most 8 sessions are admitted.
  const std::string& stolen = project.kits().client_kits[kHonest];
  std::vector<std::unique_ptr<RawClient>> thief;
  for (int i = 0; i < 20; ++i) {
    thief.push_back(std::make_unique<RawClient>(stolen + "/ca.crt", stolen + "/client.crt",
                                                stolen + "/client.key"));
    ASSERT_TRUE(thief.back()->Connect(project.port()).ok());
  }

  std::vector<std::unique_ptr<Process>> honest;
  for (int i = 0; i < kHonest; ++i) honest.push_back(project.StartClient(i, "load"));
  Sample last = first, peak = first;
  int code = -1;
  while (!coordinator->WaitExit(std::chrono::milliseconds(250), &code)) {
    Sample s;
    if (SampleProcess(coordinator->pid(), &s)) {
      last = s;
      peak.rss_bytes = std::max(peak.rss_bytes, s.rss_bytes);
    }
    ASSERT_LT(std::chrono::steady_clock::now() - start, seconds(240))
        << "the round did not finish\n"
        << ReadAll(log);
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (int fd : stalled) ::close(fd);
  const std::string text = ReadAll(log);
  EXPECT_EQ(code, 0) << text;
  EXPECT_NE(text.find("round 1 complete"), std::string::npos) << text;
  // Accept, refuse and time out 2,020 connections, and run the round: under one core.
  const double cores = (last.cpu_seconds - first.cpu_seconds) / wall;
  EXPECT_LT(cores, 1.0) << "coordinator CPU " << last.cpu_seconds - first.cpu_seconds << " s in "
                        << wall << " s";
  EXPECT_LT(peak.rss_bytes, 1ull << 30) << "coordinator RSS";
  EXPECT_GE(Count(text, "too many connections with this certificate"), 12u) << text;
  std::printf("[ stalled  ] %.1f s wall, coordinator %.2f cores, peak RSS %.0f MiB\n", wall, cores,
              static_cast<double>(peak.rss_bytes) / (1 << 20));
}

}  // namespace
}  // namespace fedge::testing
