#include "io/ice_lite_agent.hpp"

#include <gtest/gtest.h>

#include <array>

#include "io_test_util.hpp"

namespace chorus::io {
namespace {

using media::StunAddress;

// RFC 5769 §2.1 sample request: USERNAME "evtj:h6vY", password "VOkJxbRl1RmTxUk/WvJxBt", no USE-CANDIDATE.
constexpr std::array<std::uint8_t, 108> kRfc5769Request = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};
constexpr std::string_view kRfcPassword = "VOkJxbRl1RmTxUk/WvJxBt";

const StunAddress kFrom = StunAddress::v4({192, 0, 2, 1}, 32853);
const StunAddress kOther = StunAddress::v4({192, 0, 2, 2}, 40000);
constexpr std::string_view kUfrag = "abcd";
constexpr std::string_view kPwd = "0123456789abcdefghijkl";

IceLiteAgent::Outcome feed(IceLiteAgent& agent, media::ByteSpan request, const StunAddress& from, TimeMs now,
                           std::array<std::uint8_t, media::kStunMaxBindingResponse>& response) {
  auto m = media::parseStun(request);
  EXPECT_TRUE(m);
  if (!m) return {};
  return agent.handleStun(*m, from, now, response);
}

TEST(IceLiteAgent, AnswersRfc5769RequestWithVerifiableResponse) {
  IceLiteAgent agent("evtj", std::string(kRfcPassword), 0);
  agent.setRemoteUfrag("h6vY");
  std::array<std::uint8_t, media::kStunMaxBindingResponse> response{};
  const auto out = feed(agent, kRfc5769Request, kFrom, 1000, response);
  ASSERT_TRUE(out.validated);
  EXPECT_FALSE(out.nominated);
  ASSERT_GT(out.response_size, 0u);
  auto resp = media::parseStun(media::ByteSpan(response.data(), out.response_size));
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->type, media::kStunBindingSuccess);
  EXPECT_TRUE(resp->hasFingerprint());
  EXPECT_TRUE(media::verifyStunIntegrity(*resp, kRfcPassword));
  ASSERT_TRUE(resp->xor_mapped_address);
  EXPECT_EQ(*resp->xor_mapped_address, kFrom);
  EXPECT_EQ(std::vector<std::uint8_t>(resp->transaction_id.begin(), resp->transaction_id.end()),
            std::vector<std::uint8_t>(kRfc5769Request.begin() + 8, kRfc5769Request.begin() + 20));
  EXPECT_TRUE(agent.isValidated(kFrom));
  EXPECT_EQ(agent.sendAddress(), kFrom);  // validated but not nominated: still where we send
  EXPECT_FALSE(agent.selectedAddress());
}

TEST(IceLiteAgent, Rfc5769RequestWithWrongRemoteUfragOrPasswordIsDropped) {
  std::array<std::uint8_t, media::kStunMaxBindingResponse> response{};
  IceLiteAgent other_remote("evtj", std::string(kRfcPassword), 0);
  other_remote.setRemoteUfrag("zzzz");
  EXPECT_FALSE(feed(other_remote, kRfc5769Request, kFrom, 1, response).validated);
  EXPECT_EQ(other_remote.drops().get(IceDrop::WrongUfrag), 1u);

  IceLiteAgent wrong_pwd("evtj", "XOkJxbRl1RmTxUk/WvJxBt", 0);
  EXPECT_FALSE(feed(wrong_pwd, kRfc5769Request, kFrom, 1, response).validated);
  EXPECT_EQ(wrong_pwd.drops().get(IceDrop::BadIntegrity), 1u);

  IceLiteAgent wrong_local("evtx", std::string(kRfcPassword), 0);
  EXPECT_FALSE(feed(wrong_local, kRfc5769Request, kFrom, 1, response).validated);
  EXPECT_EQ(wrong_local.drops().get(IceDrop::WrongUfrag), 1u);
  EXPECT_FALSE(wrong_local.isValidated(kFrom));
}

TEST(IceLiteAgent, UseCandidateNominatesAndMovesSendAddress) {
  IceLiteAgent agent(std::string(kUfrag), std::string(kPwd), 0);
  agent.setRemoteUfrag("peer");
  std::array<std::uint8_t, media::kStunMaxBindingResponse> response{};
  const auto plain = test::buildBindingRequest("abcd:peer", kPwd);
  ASSERT_TRUE(feed(agent, plain, kFrom, 10, response).validated);
  test::BindingRequestOptions o;
  o.use_candidate = true;
  const auto nominate = test::buildBindingRequest("abcd:peer", kPwd, o);
  const auto out = feed(agent, nominate, kOther, 20, response);
  ASSERT_TRUE(out.validated);
  EXPECT_TRUE(out.nominated);
  EXPECT_EQ(agent.selectedAddress(), kOther);
  EXPECT_EQ(agent.sendAddress(), kOther);
  // A later request on the other (non-selected) address does not move the selection.
  ASSERT_TRUE(feed(agent, plain, kFrom, 30, response).validated);
  EXPECT_EQ(agent.sendAddress(), kOther);
  EXPECT_EQ(agent.validatedCount(), 2u);
  EXPECT_EQ(agent.requestsAnswered(), 3u);
}

TEST(IceLiteAgent, RejectsMissingIntegrityAndNonRequests) {
  IceLiteAgent agent(std::string(kUfrag), std::string(kPwd), 0);
  std::array<std::uint8_t, media::kStunMaxBindingResponse> response{};
  test::BindingRequestOptions o;
  o.integrity = false;
  EXPECT_FALSE(feed(agent, test::buildBindingRequest("abcd:peer", kPwd, o), kFrom, 1, response).validated);
  EXPECT_EQ(agent.drops().get(IceDrop::NoIntegrity), 1u);
  // A success response (e.g. reflected back at us) is not a request.
  auto req = test::buildBindingRequest("abcd:peer", kPwd);
  const auto out = feed(agent, req, kFrom, 2, response);
  ASSERT_TRUE(out.validated);
  EXPECT_FALSE(
      feed(agent, media::ByteSpan(response.data(), out.response_size), kFrom, 3, response).validated);
  EXPECT_EQ(agent.drops().get(IceDrop::NotBindingRequest), 1u);
  // Without a remote ufrag from the SDP, any remote part is accepted.
  EXPECT_TRUE(feed(agent, test::buildBindingRequest("abcd:else", kPwd), kFrom, 4, response).validated);
}

TEST(IceLiteAgent, ConsentFreshness) {
  IceLiteAgent agent(std::string(kUfrag), std::string(kPwd), 1000);
  EXPECT_FALSE(agent.timedOut(1000 + kConsentTimeoutMs));
  EXPECT_TRUE(agent.timedOut(1000 + kConsentTimeoutMs + 1));  // never connected
  std::array<std::uint8_t, media::kStunMaxBindingResponse> response{};
  test::BindingRequestOptions o;
  o.use_candidate = true;
  ASSERT_TRUE(
      feed(agent, test::buildBindingRequest("abcd:peer", kPwd, o), kFrom, 20'000, response).validated);
  EXPECT_FALSE(agent.timedOut(45'000));
  // Requests from a non-selected address are not consent for the selected pair.
  ASSERT_TRUE(feed(agent, test::buildBindingRequest("abcd:peer", kPwd), kOther, 40'000, response).validated);
  EXPECT_EQ(agent.lastConsentMs(), 20'000);
  EXPECT_TRUE(agent.timedOut(50'001));
  ASSERT_TRUE(feed(agent, test::buildBindingRequest("abcd:peer", kPwd), kFrom, 50'000, response).validated);
  EXPECT_FALSE(agent.timedOut(79'000));
  EXPECT_TRUE(agent.timedOut(80'001));
}

TEST(IceLiteAgent, AddressListIsBoundedAndKeepsTheSelectedOne) {
  IceLiteAgent agent(std::string(kUfrag), std::string(kPwd), 0);
  std::array<std::uint8_t, media::kStunMaxBindingResponse> response{};
  test::BindingRequestOptions o;
  o.use_candidate = true;
  ASSERT_TRUE(feed(agent, test::buildBindingRequest("abcd:peer", kPwd, o), kFrom, 1, response).validated);
  for (std::uint16_t i = 0; i < 3 * kIceMaxRemoteAddresses; ++i) {
    const auto a = StunAddress::v4({10, 0, 0, 1}, static_cast<std::uint16_t>(10000 + i));
    ASSERT_TRUE(feed(agent, test::buildBindingRequest("abcd:peer", kPwd), a, 2 + i, response).validated);
    EXPECT_TRUE(agent.isValidated(a));
  }
  EXPECT_EQ(agent.validatedCount(), kIceMaxRemoteAddresses);
  EXPECT_TRUE(agent.isValidated(kFrom));  // the selected address is never evicted
  EXPECT_FALSE(agent.isValidated(StunAddress::v4({10, 0, 0, 1}, 10000)));
}

TEST(IceLiteAgent, RandomCredentialsAreIceChars) {
  const auto a = IceLiteAgent::randomIceString(24);
  const auto b = IceLiteAgent::randomIceString(24);
  EXPECT_EQ(a.size(), 24u);
  EXPECT_NE(a, b);
  for (char c : a) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/');
}

}  // namespace
}  // namespace chorus::io
