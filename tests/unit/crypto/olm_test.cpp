#include "crypto/olm.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace chorus::crypto {
namespace {

constexpr std::string_view kPickleKey = "a pickle key that is only for this test";

// Two devices: alice opens a session to bob with one of bob's one-time keys.
struct AccountPair {
  OlmAccount alice = OlmAccount::create().value();
  OlmAccount bob = OlmAccount::create().value();
};

std::string firstOneTimeKey(OlmAccount& account) {
  EXPECT_TRUE(account.generateOneTimeKeys(1).has_value());
  auto keys = account.unpublishedOneTimeKeys();
  EXPECT_TRUE(keys.has_value());
  EXPECT_EQ(keys->size(), 1u);
  return keys->begin()->second;
}

TEST(OlmAccountTest, IdentityKeysAndSignatureVerify) {
  auto account = OlmAccount::create();
  ASSERT_TRUE(account.has_value()) << account.error().toString();
  auto keys = account->identityKeys();
  ASSERT_TRUE(keys.has_value());
  EXPECT_EQ(keys->curve25519.size(), 43u);  // 32 bytes, unpadded base64
  EXPECT_EQ(keys->ed25519.size(), 43u);
  auto other = OlmAccount::create().value().identityKeys().value();
  EXPECT_NE(keys->curve25519, other.curve25519);

  auto signature = account->sign("{\"canonical\":\"json\"}");
  ASSERT_TRUE(signature.has_value());
  EXPECT_TRUE(verifyEd25519(keys->ed25519, "{\"canonical\":\"json\"}", *signature).has_value());
  EXPECT_FALSE(verifyEd25519(keys->ed25519, "{\"canonical\":\"JSON\"}", *signature).has_value());
  EXPECT_FALSE(verifyEd25519(other.ed25519, "{\"canonical\":\"json\"}", *signature).has_value());
  EXPECT_FALSE(verifyEd25519(keys->ed25519, "x", "not base64!").has_value());
  EXPECT_FALSE(verifyEd25519("", "x", *signature).has_value());
}

TEST(OlmAccountTest, OneTimeAndFallbackKeysArePublishedOnce) {
  auto account = OlmAccount::create().value();
  EXPECT_GE(account.maxOneTimeKeys(), 50u);
  ASSERT_TRUE(account.generateOneTimeKeys(5).has_value());
  auto keys = account.unpublishedOneTimeKeys();
  ASSERT_TRUE(keys.has_value());
  EXPECT_EQ(keys->size(), 5u);
  for (const auto& [id, key] : *keys) {
    EXPECT_FALSE(id.empty());
    EXPECT_EQ(key.size(), 43u);
  }
  EXPECT_TRUE(account.unpublishedFallbackKey()->empty());
  ASSERT_TRUE(account.generateFallbackKey().has_value());
  EXPECT_EQ(account.unpublishedFallbackKey()->size(), 1u);

  account.markKeysAsPublished();
  EXPECT_TRUE(account.unpublishedOneTimeKeys()->empty());
  EXPECT_TRUE(account.unpublishedFallbackKey()->empty());
  EXPECT_FALSE(account.generateOneTimeKeys(account.maxOneTimeKeys() + 1).has_value());
}

TEST(OlmAccountTest, PickleRoundTripAndWrongKey) {
  auto account = OlmAccount::create().value();
  ASSERT_TRUE(account.generateOneTimeKeys(3).has_value());
  auto pickled = account.pickle(kPickleKey);
  ASSERT_TRUE(pickled.has_value());
  auto restored = OlmAccount::unpickle(kPickleKey, *pickled);
  ASSERT_TRUE(restored.has_value()) << restored.error().toString();
  EXPECT_EQ(restored->identityKeys()->curve25519, account.identityKeys()->curve25519);
  EXPECT_EQ(*restored->unpublishedOneTimeKeys(), *account.unpublishedOneTimeKeys());

  EXPECT_FALSE(OlmAccount::unpickle("another key", *pickled).has_value());
  EXPECT_FALSE(OlmAccount::unpickle(kPickleKey, pickled->substr(0, pickled->size() / 2)).has_value());
  EXPECT_FALSE(OlmAccount::unpickle(kPickleKey, "").has_value());
  EXPECT_FALSE(OlmAccount::unpickle(kPickleKey, "!!!!").has_value());
}

TEST(OlmSessionTest, PreKeyOneWayNormalBackPickleAndContinue) {
  AccountPair p;
  const std::string bob_otk = firstOneTimeKey(p.bob);
  p.bob.markKeysAsPublished();
  const auto alice_id = p.alice.identityKeys().value();
  const auto bob_id = p.bob.identityKeys().value();

  auto outbound = OlmSession::createOutbound(p.alice, bob_id.curve25519, bob_otk);
  ASSERT_TRUE(outbound.has_value()) << outbound.error().toString();
  auto first = outbound->encrypt("{\"type\":\"m.call.invite\"}");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->type, MessageType::PreKey);

  auto inbound = OlmSession::createInbound(p.bob, alice_id.curve25519, first->body);
  ASSERT_TRUE(inbound.has_value()) << inbound.error().toString();
  EXPECT_EQ(*inbound->sessionId(), *outbound->sessionId());
  EXPECT_TRUE(*inbound->matchesInbound(alice_id.curve25519, first->body));
  EXPECT_FALSE(*inbound->matchesInbound(bob_id.curve25519, first->body));
  auto plain = inbound->decrypt(0, first->body);
  ASSERT_TRUE(plain.has_value()) << plain.error().toString();
  EXPECT_EQ(*plain, "{\"type\":\"m.call.invite\"}");

  // The one-time key is used up: a second inbound session from the same pre-key message fails.
  EXPECT_FALSE(OlmSession::createInbound(p.bob, alice_id.curve25519, first->body).has_value());

  auto back = inbound->encrypt("answer");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->type, MessageType::Normal);
  EXPECT_EQ(*outbound->decrypt(1, back->body), "answer");

  // Both sides persist and continue.
  auto out_pickle = outbound->pickle(kPickleKey).value();
  auto in_pickle = inbound->pickle(kPickleKey).value();
  auto out2 = OlmSession::unpickle(kPickleKey, out_pickle);
  auto in2 = OlmSession::unpickle(kPickleKey, in_pickle);
  ASSERT_TRUE(out2.has_value()) << out2.error().toString();
  ASSERT_TRUE(in2.has_value()) << in2.error().toString();
  EXPECT_EQ(*out2->sessionId(), *outbound->sessionId());
  EXPECT_FALSE(OlmSession::unpickle("wrong key", out_pickle).has_value());

  auto again = out2->encrypt("candidates");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->type, MessageType::Normal);  // alice has received a message, so no more pre-key messages
  EXPECT_EQ(*in2->decrypt(static_cast<std::uint64_t>(again->type), again->body), "candidates");
  // The largest message either side accepts: a 46 KiB plaintext fits in a 64 KiB message, 64 KiB does not.
  EXPECT_FALSE(in2->encrypt(std::string(kMaxPlaintextBytes, 'x')).has_value());
  auto reply = in2->encrypt(std::string(46 * 1024, 'x'));
  ASSERT_TRUE(reply.has_value()) << reply.error().toString();
  EXPECT_LE(reply->body.size(), kMaxCiphertextBytes);
  auto big = out2->decrypt(1, reply->body);
  ASSERT_TRUE(big.has_value()) << big.error().toString();
  EXPECT_EQ(*big, std::string(46 * 1024, 'x'));

  // A replayed message does not decrypt again (its message key is gone).
  EXPECT_FALSE(in2->decrypt(1, again->body).has_value());
}

TEST(OlmSessionTest, MalformedTruncatedAndWrongTypeCiphertextsAreErrors) {
  AccountPair p;
  const std::string bob_otk = firstOneTimeKey(p.bob);
  const auto alice_id = p.alice.identityKeys().value();
  const auto bob_id = p.bob.identityKeys().value();
  auto outbound = OlmSession::createOutbound(p.alice, bob_id.curve25519, bob_otk).value();
  auto first = outbound.encrypt("hello").value();
  auto inbound = OlmSession::createInbound(p.bob, alice_id.curve25519, first.body).value();
  ASSERT_EQ(*inbound.decrypt(0, first.body), "hello");
  auto msg = inbound.encrypt("world").value();
  ASSERT_EQ(msg.type, MessageType::Normal);

  EXPECT_FALSE(outbound.decrypt(0, msg.body).has_value());  // wrong type
  EXPECT_FALSE(outbound.decrypt(2, msg.body).has_value());  // unknown type
  EXPECT_FALSE(outbound.decrypt(1, "").has_value());
  EXPECT_FALSE(outbound.decrypt(1, "not base64 !!!").has_value());
  EXPECT_FALSE(outbound.decrypt(1, std::string(kMaxCiphertextBytes + 1, 'A')).has_value());
  EXPECT_FALSE(outbound.decrypt(1, "AAAA").has_value());
  for (std::size_t len = 1; len < msg.body.size(); len += 7) {
    EXPECT_FALSE(outbound.decrypt(1, msg.body.substr(0, len)).has_value()) << len;
  }
  std::string flipped = msg.body;
  flipped[flipped.size() / 2] = flipped[flipped.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(outbound.decrypt(1, flipped).has_value());
  // None of that harmed the session: the genuine message still decrypts.
  EXPECT_EQ(*outbound.decrypt(1, msg.body), "world");

  // Plaintext bound, and bad pre-key messages and keys.
  EXPECT_FALSE(outbound.encrypt(std::string(kMaxPlaintextBytes + 1, 'x')).has_value());
  EXPECT_FALSE(OlmSession::createInbound(p.bob, alice_id.curve25519, msg.body).has_value());
  EXPECT_FALSE(OlmSession::createInbound(p.bob, alice_id.curve25519, "garbage").has_value());
  EXPECT_FALSE(OlmSession::createInbound(p.bob, alice_id.curve25519, first.body.substr(0, 20)).has_value());
  EXPECT_FALSE(OlmSession::createOutbound(p.alice, "short", bob_otk).has_value());
  EXPECT_FALSE(OlmSession::createOutbound(p.alice, bob_id.curve25519, "").has_value());
  auto garbage_matches = inbound.matchesInbound(alice_id.curve25519, "garbage");
  EXPECT_FALSE(garbage_matches.has_value() && *garbage_matches);
  EXPECT_FALSE(
      *inbound.matchesInbound(alice_id.curve25519, msg.body));  // a normal message is no pre-key match
  EXPECT_FALSE(inbound.matchesInbound(alice_id.curve25519, "").has_value());
  EXPECT_FALSE(OlmSession::unpickle(kPickleKey, "garbage").has_value());
}

TEST(OlmSessionTest, FallbackKeyAcceptsSessionsAndStays) {
  AccountPair p;
  ASSERT_TRUE(p.bob.generateFallbackKey().has_value());
  const std::string fallback = p.bob.unpublishedFallbackKey()->begin()->second;
  p.bob.markKeysAsPublished();
  const auto alice_id = p.alice.identityKeys().value();
  for (int i = 0; i < 2; ++i) {
    auto out = OlmSession::createOutbound(p.alice, p.bob.identityKeys()->curve25519, fallback).value();
    auto msg = out.encrypt("via fallback").value();
    auto in = OlmSession::createInbound(p.bob, alice_id.curve25519, msg.body);
    ASSERT_TRUE(in.has_value()) << in.error().toString();
    EXPECT_EQ(*in->decrypt(0, msg.body), "via fallback");
  }
}

}  // namespace
}  // namespace chorus::crypto
