// Real mutual TLS on 127.0.0.1 against a real coordinator with RocksDB in a temp dir.
#include <gtest/gtest.h>

#include "shared/net/wire.h"
#include "tests/integration/test_support.h"

namespace fedge::testing {
namespace {

using shared::Code;

class CoordinatorTlsTest : public ::testing::Test {
 protected:
  CoordinatorTlsTest()
      : dir_("tls"),
        kits_(ProvisionOrDie(dir_.path() + "/project", 3)),
        other_(ProvisionOrDie(dir_.path() + "/other-project", 1)) {
    auto config = TestCoordinatorConfig(kits_, dir_.path() + "/data");
    config.rounds.min_clients = 100;  // never start a round: these tests are about the door
    config.rounds.min_fit = 1;
    server_ = std::make_unique<RunningServer>(config);
  }

  std::string Kit(int i) const { return kits_.client_kits[i]; }
  RawClient GoodClient(int i) const {
    return RawClient(Kit(i) + "/ca.crt", Kit(i) + "/client.crt", Kit(i) + "/client.key");
  }

  // A well-behaved client still gets a Welcome naming it by its certificate.
  void ExpectServerStillServes() {
    RawClient c = GoodClient(2);
    ASSERT_TRUE(c.Connect(server_->port()).ok());
    ASSERT_TRUE(c.SendHello().ok());
    auto frame = c.ReadNonHeartbeat();
    ASSERT_TRUE(frame.ok()) << frame.status().ToString();
    auto env = shared::VerifyEnvelope(*frame);
    ASSERT_TRUE(env.ok());
    const wire::Welcome* w = (*env)->message_as_Welcome();
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->client_id()->str(), kits_.client_ids[2]);
    EXPECT_EQ(w->protocol(), shared::kProtocolVersion);
  }

  // Expects the next non-heartbeat frame to be an Error with `code`; then the close.
  void ExpectErrorThenClose(RawClient& c, wire::ErrorCode code, const std::string& words) {
    auto frame = c.ReadNonHeartbeat();
    ASSERT_TRUE(frame.ok()) << frame.status().ToString();
    auto env = shared::VerifyEnvelope(*frame);
    ASSERT_TRUE(env.ok());
    const wire::Error* e = (*env)->message_as_Error();
    ASSERT_NE(e, nullptr) << wire::EnumNameMessage((*env)->message_type());
    EXPECT_EQ(e->code(), code) << e->message()->str();
    EXPECT_NE(e->message()->str().find(words), std::string::npos) << e->message()->str();
    EXPECT_FALSE(c.ReadFrame().ok());  // connection closed after the error
  }

  TempDir dir_;
  shared::ProvisionResult kits_;
  shared::ProvisionResult other_;
  std::unique_ptr<RunningServer> server_;
};

TEST_F(CoordinatorTlsTest, ValidClientIsWelcomedWithTheIdFromItsCertificate) {
  ExpectServerStillServes();
  // Registered in RocksDB with its certificate fingerprint.
  auto rec = server_->server().store().GetClient(kits_.client_ids[2]);
  for (int i = 0; i < 100 && rec.ok() && !rec->has_value(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    rec = server_->server().store().GetClient(kits_.client_ids[2]);
  }
  ASSERT_TRUE(rec.ok() && rec->has_value());
  auto id = shared::IdentityFromPemFile(Kit(2) + "/client.crt");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ((*rec)->fingerprint, id->fingerprint_hex);
  EXPECT_EQ((*rec)->train_examples, kRawClientExamples);
}

TEST_F(CoordinatorTlsTest, ClientWithCertificateFromAnotherCaIsRefused) {
  const std::string foreign = other_.client_kits[0];
  RawClient c(Kit(0) + "/ca.crt", foreign + "/client.crt", foreign + "/client.key");
  // Under TLS 1.3 the refusal may show on the handshake or on the first read.
  if (c.Connect(server_->port()).ok()) {
    (void)c.SendHello();
    EXPECT_FALSE(c.ReadFrame().ok());
  }
  EXPECT_FALSE((*server_->server().store().GetClient(other_.client_ids[0])).has_value());
  ExpectServerStillServes();
}

TEST_F(CoordinatorTlsTest, ClientWithoutCertificateIsRefused) {
  RawClient c(Kit(0) + "/ca.crt", "", "");
  if (c.Connect(server_->port()).ok()) {
    (void)c.SendHello();
    EXPECT_FALSE(c.ReadFrame().ok());
  }
  ExpectServerStillServes();
}

TEST_F(CoordinatorTlsTest, OversizedFrameGetsAClearErrorAndClose) {
  RawClient c = GoodClient(0);
  ASSERT_TRUE(c.Connect(server_->port()).ok());
  auto header = shared::EncodeFrameHeader((1u << 20) + 1);  // one byte over the cap
  ASSERT_TRUE(c.WriteBytes(header).ok());
  ExpectErrorThenClose(c, wire::ErrorCode::ResourceExhausted, "exceeds the cap");
  ExpectServerStillServes();
}

TEST_F(CoordinatorTlsTest, TruncatedFrameGetsAClearErrorAndClose) {
  RawClient c = GoodClient(0);
  ASSERT_TRUE(c.Connect(server_->port()).ok());
  ASSERT_TRUE(c.SendHello().ok());
  ASSERT_TRUE(c.ReadNonHeartbeat().ok());  // Welcome
  auto header = shared::EncodeFrameHeader(100);
  std::vector<uint8_t> partial(header.begin(), header.end());
  partial.resize(partial.size() + 10, 0x42);  // 10 of the 100 announced bytes, then silence
  ASSERT_TRUE(c.WriteBytes(partial).ok());
  ExpectErrorThenClose(c, wire::ErrorCode::DeadlineExceeded, "frame not completed");
  ExpectServerStillServes();
}

TEST_F(CoordinatorTlsTest, FrameThatIsNotAFlatBufferGetsAClearErrorAndClose) {
  RawClient c = GoodClient(1);
  ASSERT_TRUE(c.Connect(server_->port()).ok());
  ASSERT_TRUE(c.SendHello().ok());
  ASSERT_TRUE(c.ReadNonHeartbeat().ok());  // Welcome
  std::vector<uint8_t> junk(200, 0x5A);
  ASSERT_TRUE(c.WriteFrame(junk).ok());
  ExpectErrorThenClose(c, wire::ErrorCode::Corruption, "not a fedge v1 message");
  ExpectServerStillServes();
}

TEST_F(CoordinatorTlsTest, UnsupportedProtocolVersionIsRefusedWithReason) {
  RawClient c = GoodClient(0);
  ASSERT_TRUE(c.Connect(server_->port()).ok());
  flatbuffers::FlatBufferBuilder fbb(64);
  ASSERT_TRUE(c.WriteFrame(shared::FinishEnvelope(fbb, wire::CreateHello(fbb, 7, 9))).ok());
  ExpectErrorThenClose(c, wire::ErrorCode::UnsupportedVersion, "protocol 7..9");
}

TEST_F(CoordinatorTlsTest, AdminCertificateRunsCommandsButCannotJoinRounds) {
  const std::string admin = kits_.admin_kits[0];
  RawClient c(admin + "/ca.crt", admin + "/admin.crt", admin + "/admin.key");
  ASSERT_TRUE(c.Connect(server_->port()).ok());
  ASSERT_TRUE(c.SendHello().ok());
  auto welcome = c.ReadNonHeartbeat();
  ASSERT_TRUE(welcome.ok()) << welcome.status().ToString();
  auto status = c.AdminCall("status");
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ((*status)["engine"]["model_version"], 1);
  EXPECT_EQ((*status)["clients_connected"], 0);
  flatbuffers::FlatBufferBuilder fbb(256);
  auto idem = fbb.CreateString("admin/1");
  std::vector<uint8_t> digest(32, 7);
  auto d = fbb.CreateVector(digest);
  ASSERT_TRUE(
      c.WriteFrame(shared::FinishEnvelope(fbb, wire::CreateUpdateSubmit(fbb, 1, 1, idem, 10, 0,
                                                                        wire::Codec::Fp32, d, 100)))
          .ok());
  ExpectErrorThenClose(c, wire::ErrorCode::InvalidArgument, "UpdateSubmit from an admin");
}

TEST_F(CoordinatorTlsTest, ClientCertificateCannotRunAdminCommands) {
  RawClient c = GoodClient(0);
  ASSERT_TRUE(c.Connect(server_->port()).ok());
  ASSERT_TRUE(c.SendHello().ok());
  ASSERT_TRUE(c.ReadNonHeartbeat().ok());  // Welcome
  auto r = c.AdminCall("revoke", {kits_.client_ids[1]});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("AdminRequest from a client"), std::string::npos)
      << r.status().ToString();
  auto revoked = server_->server().store().GetRevocation(kits_.client_ids[1]);
  ASSERT_TRUE(revoked.ok());
  EXPECT_FALSE(revoked->has_value());
}

TEST_F(CoordinatorTlsTest, RevocationClosesTheSessionAndRefusesReconnectsAcrossRestarts) {
  RawClient victim = GoodClient(1);
  ASSERT_TRUE(victim.Connect(server_->port()).ok());
  ASSERT_TRUE(victim.SendHello().ok());
  ASSERT_TRUE(victim.ReadNonHeartbeat().ok());  // Welcome: the session is open

  const std::string admin = kits_.admin_kits[0];
  RawClient a(admin + "/ca.crt", admin + "/admin.crt", admin + "/admin.key");
  ASSERT_TRUE(a.Connect(server_->port()).ok());
  ASSERT_TRUE(a.SendHello().ok());
  ASSERT_TRUE(a.ReadNonHeartbeat().ok());
  auto r = a.AdminCall("revoke", {kits_.client_ids[1], "laptop stolen"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["client"], kits_.client_ids[1]);
  EXPECT_EQ((*r)["revoked_by"], "admin");

  // The open session is told and closed.
  ExpectErrorThenClose(victim, wire::ErrorCode::PermissionDenied, "was revoked");

  // A new connection with the same certificate is refused, and stays refused after the
  // coordinator restarts on the same data directory.
  for (int restart = 0; restart < 2; ++restart) {
    RawClient again = GoodClient(1);
    ASSERT_TRUE(again.Connect(server_->port()).ok());
    ExpectErrorThenClose(again, wire::ErrorCode::PermissionDenied, "laptop stolen");
    if (restart == 0) {
      auto config = TestCoordinatorConfig(kits_, dir_.path() + "/data");
      config.rounds.min_clients = 100;
      server_.reset();
      server_ = std::make_unique<RunningServer>(config);
    }
  }
  ExpectServerStillServes();  // other clients are unaffected
}

}  // namespace
}  // namespace fedge::testing
