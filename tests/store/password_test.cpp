#include "auth/password.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace craft::auth;

TEST(Password, HashVerifiesAndWrongOneDoesNot) {
  auto hash = hash_password("correct horse battery staple", PasswordCost::test_only);
  ASSERT_TRUE(hash);
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u) << *hash;
  EXPECT_TRUE(verify_password("correct horse battery staple", *hash));
  EXPECT_FALSE(verify_password("correct horse battery stapler", *hash));
  EXPECT_FALSE(verify_password("", *hash));
}

TEST(Password, SaltedSoTwoHashesDiffer) {
  auto a = hash_password("same", PasswordCost::test_only);
  auto b = hash_password("same", PasswordCost::test_only);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(verify_password("same", *a));
  EXPECT_TRUE(verify_password("same", *b));
}

TEST(Password, InteractiveCostIsTheDefault) {
  auto hash = hash_password("production password");
  ASSERT_TRUE(hash);
  EXPECT_NE(hash->find("m=65536,t=2"), std::string::npos) << *hash;
  EXPECT_TRUE(verify_password("production password", *hash));
  EXPECT_FALSE(needs_rehash(*hash));
  auto cheap = hash_password("x", PasswordCost::test_only);
  ASSERT_TRUE(cheap);
  EXPECT_TRUE(needs_rehash(*cheap));
}

TEST(Password, RefusesEmptyAndOversizedPasswordsAndGarbageHashes) {
  EXPECT_FALSE(hash_password("", PasswordCost::test_only));
  EXPECT_FALSE(hash_password(std::string(kMaxPasswordBytes + 1, 'a'), PasswordCost::test_only));
  EXPECT_TRUE(hash_password(std::string(kMaxPasswordBytes, 'a'), PasswordCost::test_only));
  EXPECT_FALSE(verify_password("x", ""));
  EXPECT_FALSE(verify_password("x", "not a hash"));
  EXPECT_FALSE(verify_password("x", std::string(500, '$')));
  EXPECT_FALSE(verify_password_dummy("anything"));
}
