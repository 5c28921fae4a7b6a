// Who may use the console (src/web/access.h), decided without a socket: requests naming the
// console by a local Host only; loopback peers freely (unless forwarded, or token_for_loopback),
// anyone else with the bearer token. tests/privileged/console_auth_test.cpp checks the same over
// a real non-loopback link (network namespace); web_server_test.cpp checks it on the wire.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "support/test_support.h"
#include "web/access.h"

namespace vigil::web {
namespace {

constexpr std::string_view kToken = "0123456789abcdef0123456789abcdef";

TEST(WebAccessLoopback, WhatCountsAsLoopback) {
  for (const char* address : {"127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "0:0:0:0:0:0:0:1",
                              "::ffff:127.0.0.1", "::ffff:127.9.9.9"}) {
    EXPECT_TRUE(is_loopback_address(address)) << address;
  }
  for (const char* address : {"10.0.0.1", "192.0.2.2", "0.0.0.0", "128.0.0.1", "126.255.255.255", "::",
                              "::ffff:10.0.0.1", "fe80::1", "::2", "localhost", "", "127.0.0.1 ", " 127.0.0.1",
                              "127.0.0.1%lo", "::1%lo", "127.1", "garbage"}) {
    EXPECT_FALSE(is_loopback_address(address)) << address;
  }
}

TEST(WebAccessToken, OfferedFromHeaderFirstThenParameter) {
  EXPECT_EQ(offered_token("Bearer abc", std::nullopt), "abc");
  EXPECT_EQ(offered_token("bearer abc", std::nullopt), "abc");
  EXPECT_EQ(offered_token("BEARER   abc  ", std::nullopt), "abc");
  EXPECT_EQ(offered_token("Bearer abc", std::string_view("param")), "abc");
  EXPECT_EQ(offered_token("", std::string_view("param")), "param");
  EXPECT_EQ(offered_token("Basic dXNlcjpwYXNz", std::string_view("param")), "param");
  EXPECT_EQ(offered_token("Bearer ", std::string_view("param")), "param");
  EXPECT_FALSE(offered_token("", std::nullopt));
  EXPECT_FALSE(offered_token("Basic dXNlcjpwYXNz", std::nullopt));
  EXPECT_FALSE(offered_token("Bearer", std::nullopt));
}

TEST(WebAccessToken, MatchesOnlyTheWholeToken) {
  EXPECT_TRUE(token_matches(kToken, kToken));
  EXPECT_FALSE(token_matches(kToken.substr(0, 31), kToken));
  EXPECT_FALSE(token_matches(std::string(kToken) + "0", kToken));
  EXPECT_FALSE(token_matches("1123456789abcdef0123456789abcdef", kToken));
  EXPECT_FALSE(token_matches("", kToken));
  // No token configured: nothing matches, not even nothing.
  EXPECT_FALSE(token_matches("", ""));
  EXPECT_FALSE(token_matches("x", ""));
}

TEST(WebAccessDecision, LoopbackNeedsNoToken) {
  EXPECT_EQ(check_access("127.0.0.1", "", std::nullopt, kToken), Access::allowed);
  EXPECT_EQ(check_access("::1", "", std::nullopt, kToken), Access::allowed);
  EXPECT_EQ(check_access("::ffff:127.0.0.1", "", std::nullopt, kToken), Access::allowed);
  // Even a wrong token from loopback does not lock the local user out.
  EXPECT_EQ(check_access("127.0.0.1", "Bearer wrong", std::nullopt, kToken), Access::allowed);
}

TEST(WebAccessDecision, OthersNeedTheToken) {
  for (const char* peer : {"10.0.0.1", "192.0.2.2", "fd00::2", "::ffff:10.1.2.3", "", "not an address"}) {
    EXPECT_EQ(check_access(peer, "", std::nullopt, kToken), Access::missing_token) << peer;
    EXPECT_EQ(check_access(peer, "Basic dXNlcjpwYXNz", std::nullopt, kToken), Access::missing_token) << peer;
    EXPECT_EQ(check_access(peer, "Bearer " + std::string(kToken.size(), 'x'), std::nullopt, kToken),
              Access::wrong_token)
        << peer;
    EXPECT_EQ(check_access(peer, "", std::string_view("nope"), kToken), Access::wrong_token) << peer;
    EXPECT_EQ(check_access(peer, "Bearer " + std::string(kToken), std::nullopt, kToken), Access::allowed) << peer;
    EXPECT_EQ(check_access(peer, "", kToken, kToken), Access::allowed) << peer;
    // The header wins: a wrong header is not rescued by a right parameter.
    EXPECT_EQ(check_access(peer, "Bearer wrong", kToken, kToken), Access::wrong_token) << peer;
  }
  // An agent without a token refuses every remote peer instead of letting them all in.
  EXPECT_EQ(check_access("10.0.0.1", "", std::string_view(""), ""), Access::wrong_token);
  EXPECT_EQ(check_access("10.0.0.1", "", std::nullopt, ""), Access::missing_token);
}

TEST(WebAccessDecision, AForwardedClientIsRemoteEvenThroughLoopback) {
  AccessOptions forwarded;
  forwarded.forwarded = true;
  EXPECT_EQ(check_access("127.0.0.1", "", std::nullopt, kToken, forwarded), Access::missing_token);
  EXPECT_EQ(check_access("::1", "Bearer wrong", std::nullopt, kToken, forwarded), Access::wrong_token);
  EXPECT_EQ(check_access("127.0.0.1", "Bearer " + std::string(kToken), std::nullopt, kToken, forwarded), Access::allowed);
  EXPECT_EQ(check_access("127.0.0.1", "", kToken, kToken, forwarded), Access::allowed);
}

TEST(WebAccessDecision, TokenForLoopbackTrustsNoAddress) {
  AccessOptions strict;
  strict.token_for_loopback = true;
  for (const char* peer : {"127.0.0.1", "::1", "::ffff:127.0.0.1", "10.0.0.1"}) {
    EXPECT_EQ(check_access(peer, "", std::nullopt, kToken, strict), Access::missing_token) << peer;
    EXPECT_EQ(check_access(peer, "Bearer wrong", std::nullopt, kToken, strict), Access::wrong_token) << peer;
    EXPECT_EQ(check_access(peer, "Bearer " + std::string(kToken), std::nullopt, kToken, strict), Access::allowed) << peer;
  }
}

// ---- Host: DNS rebinding ------------------------------------------------------------------------

TEST(WebAccessHost, NamesAreTakenFromTheHeader) {
  EXPECT_EQ(host_header_name("localhost"), "localhost");
  EXPECT_EQ(host_header_name("LocalHost:7373"), "localhost");
  EXPECT_EQ(host_header_name("localhost."), "localhost");
  EXPECT_EQ(host_header_name(" 127.0.0.1:80 "), "127.0.0.1");
  EXPECT_EQ(host_header_name("[::1]:7373"), "::1");
  EXPECT_EQ(host_header_name("[::1]"), "::1");
  EXPECT_EQ(host_header_name("Console.Example.ORG"), "console.example.org");
  for (const char* bad : {"", " ", ":7373", "[::1", "[::1]x", "[nope]:1", "host:port", "host:123456", "a b",
                          "host/path", "user@host", "::1"}) {
    EXPECT_FALSE(host_header_name(bad)) << "'" << bad << "'";
  }
}

TEST(WebAccessHost, OnlyThisConsolesNamesAreLocal) {
  const std::vector<std::string> none;
  for (const char* host : {"localhost", "localhost:7373", "LOCALHOST", "127.0.0.1", "127.0.0.1:7373", "127.1.2.3",
                           "[::1]:7373", "[::1]", "[0:0:0:0:0:0:0:1]"}) {
    EXPECT_TRUE(host_is_local(host, "127.0.0.1", "127.0.0.1", none)) << host;
  }
  // A rebinding page names its own host; so does anything else with a name of its own.
  for (const char* host : {"attacker.example", "attacker.example:7373", "localhost.attacker.example",
                           "127.0.0.1.nip.io", "evil-localhost", "", "10.0.0.5", "[fe80::1]", "0x7f000001"}) {
    EXPECT_FALSE(host_is_local(host, "127.0.0.1", "127.0.0.1", none)) << host;
  }
  // The listen address, and whatever address the connection really arrived on (a wildcard listen).
  EXPECT_TRUE(host_is_local("192.0.2.7:7373", "192.0.2.7", "192.0.2.7", none));
  EXPECT_TRUE(host_is_local("192.0.2.7", "0.0.0.0", "192.0.2.7", none));
  EXPECT_TRUE(host_is_local("[2001:db8::7]:7373", "::", "2001:db8:0::7", none));
  EXPECT_TRUE(host_is_local("192.0.2.7", "0.0.0.0", "::ffff:192.0.2.7", none));
  EXPECT_FALSE(host_is_local("192.0.2.8", "0.0.0.0", "192.0.2.7", none));
  // Names configured explicitly (console.allowed_hosts), case and port aside.
  const std::vector<std::string> allowed = {"console.example.org", "Host1"};
  EXPECT_TRUE(host_is_local("CONSOLE.example.org:7373", "0.0.0.0", "192.0.2.7", allowed));
  EXPECT_TRUE(host_is_local("host1", "0.0.0.0", "192.0.2.7", allowed));
  EXPECT_FALSE(host_is_local("example.org", "0.0.0.0", "192.0.2.7", allowed));
  EXPECT_FALSE(host_is_local("host1.attacker.example", "0.0.0.0", "192.0.2.7", allowed));
}

// ---- the token file ---------------------------------------------------------------------------

TEST(WebAccessTokenFile, CreatedOnceWithMode0600) {
  test::TempDir dir;
  const std::string path = dir / "console.token";
  auto created = load_or_create_token(path);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->size(), 64u);
  EXPECT_EQ(created->find_first_not_of("0123456789abcdef"), std::string::npos) << *created;
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".new"));
  auto again = load_or_create_token(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *created);
}

TEST(WebAccessTokenFile, ReadableByOthersIsTightened) {
  test::TempDir dir;
  const std::string path = dir / "console.token";
  test::write_text(path, std::string(kToken) + "\r\n");
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  std::string note;
  auto token = load_or_create_token(path, &note);
  ASSERT_TRUE(token) << token.error().message;
  EXPECT_EQ(*token, kToken);
  EXPECT_NE(note.find("0600"), std::string::npos) << note;
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(WebAccessTokenFile, UnusableFilesAreErrorsNamingThem) {
  test::TempDir dir;
  for (const std::string& content : {std::string(), std::string("\n"), std::string("short\n"),
                                     std::string("has a space in it 0123456789\n"), std::string(kToken) + "\nsecond"}) {
    const std::string path = dir / "console.token";
    test::write_text(path, content);
    ::chmod(path.c_str(), 0600);
    auto token = load_or_create_token(path);
    EXPECT_FALSE(token) << "'" << content << "' accepted as " << *token;
    if (!token) {
      EXPECT_NE(token.error().message.find(path), std::string::npos) << token.error().message;
    }
  }
  // A symlink is not followed (someone else could point it at a file of their choosing).
  const std::string target = dir / "elsewhere";
  test::write_text(target, std::string(kToken) + "\n");
  ::chmod(target.c_str(), 0600);
  const std::string link = dir / "linked.token";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  auto linked = load_or_create_token(link);
  EXPECT_FALSE(linked);
  // A directory is not a token.
  auto directory = load_or_create_token(dir.path());
  EXPECT_FALSE(directory);
  // Nor is a path whose directory does not exist created.
  EXPECT_FALSE(load_or_create_token(dir / "missing/console.token"));
}

}  // namespace
}  // namespace vigil::web
