#include <gtest/gtest.h>

#include "test_support.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "core/text.hpp"
#include "store/crypto.hpp"

using namespace courtroute;
namespace fs = std::filesystem;

namespace {

std::array<unsigned char, 32> key_of(unsigned char fill) {
    std::array<unsigned char, 32> k{};
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(fill + i);
    return k;
}

using test::temp_dir;

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& p, const std::string& bytes, mode_t mode) {
    {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out << bytes;
    }
    ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
}

} // namespace

TEST(Crypto, Sha256KnownVector) {
    EXPECT_EQ(hex_encode(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hex_encode(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Crypto, RandomBytesHaveRequestedLengthAndDiffer) {
    EXPECT_EQ(random_bytes(0).size(), 0u);
    const auto a = random_bytes(32), b = random_bytes(32);
    EXPECT_EQ(a.size(), 32u);
    EXPECT_NE(a, b);
}

TEST(Crypto, SealOpenRoundTrip) {
    secret_box box{key_of(1)};
    for (std::string plain : {std::string(), std::string("x"), std::string("hunter2-password"),
                              std::string("\0binary\xff", 8), std::string(5000, 'z')}) {
        const auto sealed = box.seal(plain, "pacer.password:alice");
        EXPECT_EQ(sealed.size(), 12 + plain.size() + 16);
        const auto opened = box.open(sealed, "pacer.password:alice");
        ASSERT_TRUE(opened.has_value());
        EXPECT_EQ(*opened, plain);
    }
}

TEST(Crypto, CiphertextDoesNotContainPlaintext) {
    secret_box box{key_of(1)};
    const std::string plain = "correct-horse-battery-staple";
    const auto sealed = box.seal(plain, "ctx");
    EXPECT_EQ(sealed.find(plain), std::string::npos);
}

TEST(Crypto, WrongContextFails) {
    secret_box box{key_of(1)};
    const auto sealed = box.seal("secret", "pacer.password:alice");
    EXPECT_FALSE(box.open(sealed, "pacer.password:bob"));
    EXPECT_FALSE(box.open(sealed, "pacer.totp:alice"));
    EXPECT_FALSE(box.open(sealed, ""));
}

TEST(Crypto, TamperedByteFails) {
    secret_box box{key_of(1)};
    const auto sealed = box.seal("secret value", "ctx");
    for (std::size_t i = 0; i < sealed.size(); ++i) { // nonce, ciphertext and tag alike
        auto bad = sealed;
        bad[i] = static_cast<char>(bad[i] ^ 0x01);
        EXPECT_FALSE(box.open(bad, "ctx")) << "byte " << i;
    }
    EXPECT_FALSE(box.open(sealed.substr(0, sealed.size() - 1), "ctx"));
    EXPECT_FALSE(box.open(sealed + "x", "ctx"));
    EXPECT_FALSE(box.open("", "ctx"));
    EXPECT_FALSE(box.open(std::string(27, 'a'), "ctx"));
}

TEST(Crypto, WrongKeyFails) {
    secret_box a{key_of(1)}, b{key_of(2)};
    const auto sealed = a.seal("secret", "ctx");
    EXPECT_FALSE(b.open(sealed, "ctx"));
    EXPECT_TRUE(a.open(sealed, "ctx"));
}

TEST(Crypto, NoncesDiffer) {
    secret_box box{key_of(1)};
    const auto s1 = box.seal("same", "ctx");
    const auto s2 = box.seal("same", "ctx");
    EXPECT_NE(s1.substr(0, 12), s2.substr(0, 12));
    EXPECT_NE(s1, s2);
}

TEST(KeyFile, CreatedPrivateWith32BytesAndReused) {
    temp_dir dir;
    const auto file = dir.path() / "secret.key";
    const mode_t old = ::umask(0); // creation must not depend on the caller's umask
    auto box1 = secret_box::from_key_file(file, true);
    ::umask(old);
    ASSERT_TRUE(fs::exists(file));
    EXPECT_EQ(mode_of(file), 0600u);
    const auto key1 = read_all(file);
    EXPECT_EQ(key1.size(), 32u);
    // No temporary file is left behind.
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);

    auto box2 = secret_box::from_key_file(file, true);
    EXPECT_EQ(read_all(file), key1); // reused, not overwritten
    const auto sealed = box1.seal("secret", "ctx");
    const auto opened = box2.open(sealed, "ctx");
    ASSERT_TRUE(opened);
    EXPECT_EQ(*opened, "secret");

    // The key on disk is the key used: a box built from those bytes opens it too.
    std::array<unsigned char, 32> raw{};
    std::copy(key1.begin(), key1.end(), raw.begin());
    EXPECT_TRUE(secret_box{raw}.open(sealed, "ctx"));
}

TEST(KeyFile, MissingWithoutCreateIsRefused) {
    temp_dir dir;
    const auto file = dir.path() / "absent.key";
    try {
        (void)secret_box::from_key_file(file, false);
        FAIL() << "expected crypto_error";
    } catch (const crypto_error& e) {
        EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(file));
}

TEST(KeyFile, WrongSizeIsRefused) {
    temp_dir dir;
    for (std::size_t n : {0u, 16u, 31u, 33u, 64u}) {
        const auto file = dir.path() / ("k" + std::to_string(n));
        write_file(file, std::string(n, 'k'), 0600);
        try {
            (void)secret_box::from_key_file(file, true);
            FAIL() << "expected crypto_error for size " << n;
        } catch (const crypto_error& e) {
            const std::string msg = e.what();
            EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
            EXPECT_NE(msg.find("32 bytes"), std::string::npos) << msg;
        }
        EXPECT_EQ(read_all(file).size(), n); // never overwritten
    }
}

TEST(KeyFile, GroupOrWorldAccessibleIsRefused) {
    temp_dir dir;
    for (mode_t mode : {0644u, 0640u, 0604u, 0660u, 0606u}) {
        const auto file = dir.path() / "loose.key";
        write_file(file, std::string(32, 'k'), mode);
        try {
            (void)secret_box::from_key_file(file, true);
            FAIL() << "expected crypto_error for mode " << std::oct << mode;
        } catch (const crypto_error& e) {
            EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
        }
        fs::remove(file);
    }
    const auto ok = dir.path() / "tight.key";
    write_file(ok, std::string(32, 'k'), 0400);
    EXPECT_NO_THROW((void)secret_box::from_key_file(ok, false));
}
