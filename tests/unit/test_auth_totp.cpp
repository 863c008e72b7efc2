#include <gtest/gtest.h>

#include "auth/totp.hpp"

#include <stdexcept>

using namespace courtroute::auth;

TEST(Base32, Rfc4648Vectors) {
    struct row {
        const char* in;
        const char* out;
    };
    for (auto [in, out] : {row{"", ""}, row{"MY======", "f"}, row{"MZXQ====", "fo"}, row{"MZXW6===", "foo"},
                           row{"MZXW6YQ=", "foob"}, row{"MZXW6YTB", "fooba"}, row{"MZXW6YTBOI======", "foobar"}}) {
        auto d = base32_decode(in);
        ASSERT_TRUE(d) << in;
        EXPECT_EQ(*d, out) << in;
    }
}

TEST(Base32, CaseSpacesAndMissingPadding) {
    auto canonical = base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    ASSERT_TRUE(canonical);
    EXPECT_EQ(*canonical, "12345678901234567890");
    auto grouped = base32_decode("gezd gnbv gy3t qojq GEZD GNBV GY3T QOJQ");
    ASSERT_TRUE(grouped);
    EXPECT_EQ(*grouped, *canonical);
    auto unpadded = base32_decode("mzxw6ytboi");
    ASSERT_TRUE(unpadded);
    EXPECT_EQ(*unpadded, "foobar");
}

TEST(Base32, RejectsForeignCharactersAndTruncation) {
    for (const char* bad : {"MZXW6YTB1", "MZXW-6YTB", "MZXW6YTB0", "MZXW6YTB8", "MZ\nXW", "MZ.XW", "M", "MZX", "MZXW6Y"})
        EXPECT_FALSE(base32_decode(bad)) << bad;
}

TEST(Totp, Rfc6238AppendixBSha1EightDigits) {
    const std::string seed = "12345678901234567890";
    struct row {
        std::int64_t t;
        const char* code;
    };
    for (auto [t, code] : {row{59, "94287082"}, row{1111111109, "07081804"}, row{1111111111, "14050471"},
                           row{1234567890, "89005924"}, row{2000000000, "69279037"}, row{20000000000, "65353130"}})
        EXPECT_EQ(totp(seed, t, 8), code) << t;
}

TEST(Totp, SixDigitsMatchRfc4226HotpVectors) {
    const std::string seed = "12345678901234567890";
    // TOTP with step 30 is HOTP of floor(t/30): RFC 4226 Appendix D counters 0, 1, 9.
    EXPECT_EQ(totp(seed, 0), "755224");
    EXPECT_EQ(totp(seed, 29), "755224");
    EXPECT_EQ(totp(seed, 30), "287082");
    EXPECT_EQ(totp(seed, 59), "287082");
    EXPECT_EQ(totp(seed, 9 * 30 + 5), "520489");
    // The window edge: the code changes exactly at a step boundary.
    EXPECT_NE(totp(seed, 59), totp(seed, 60));
}

TEST(Totp, FromBase32SecretAndBadInput) {
    auto code = totp_from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, "287082");
    EXPECT_FALSE(totp_from_base32("not base32!", 59));
    EXPECT_FALSE(totp_from_base32("", 59));
    EXPECT_THROW((void)totp("k", 59, 0), std::invalid_argument);
    EXPECT_THROW((void)totp("k", 59, 11), std::invalid_argument);
    EXPECT_THROW((void)totp("k", 59, 6, 0), std::invalid_argument);
    EXPECT_THROW((void)totp("k", -1), std::invalid_argument);
}
