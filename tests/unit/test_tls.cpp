#include <gtest/gtest.h>

#include "tls/contexts.hpp"
#include "tls/local_ca.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace courtroute::tls;
namespace fs = std::filesystem;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using net::ip::tcp;
using std::chrono::system_clock;
using namespace std::chrono_literals;

namespace {

/// A fresh directory removed at the end of the test.
class temp_dir {
public:
    temp_dir() {
        std::string templ = (fs::path(testing::TempDir()) / "courtroute-tls-XXXXXX").string();
        char* made = ::mkdtemp(templ.data());
        if (!made) throw std::runtime_error("mkdtemp failed");
        path_ = made;
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    [[nodiscard]] const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void spit(const fs::path& p, const std::string& data) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << data;
}

unsigned mode_of(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0xFFFF;
    return st.st_mode & 07777;
}

std::string subject_field(X509* cert, int nid) {
    X509_NAME* name = X509_get_subject_name(cert);
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    if (i < 0) return {};
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    return {reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<std::size_t>(ASN1_STRING_length(s))};
}

/// Seconds from `a` to `b` (positive when b is later).
long long seconds_between(const ASN1_TIME* a, const ASN1_TIME* b) {
    int days = 0, secs = 0;
    if (!ASN1_TIME_diff(&days, &secs, a, b)) return -1;
    return static_cast<long long>(days) * 86400 + secs;
}

struct store_deleter {
    void operator()(X509_STORE* p) const noexcept { X509_STORE_free(p); }
};
struct store_ctx_deleter {
    void operator()(X509_STORE_CTX* p) const noexcept { X509_STORE_CTX_free(p); }
};

/// X509_verify_cert of `leaf` against a store holding only `ca`, at time `at`.
int verify_leaf(X509* ca, X509* leaf, system_clock::time_point at, std::string* error = nullptr) {
    std::unique_ptr<X509_STORE, store_deleter> store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), ca);
    std::unique_ptr<X509_STORE_CTX, store_ctx_deleter> ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
    X509_STORE_CTX_set_time(ctx.get(), 0, system_clock::to_time_t(at));
    int rc = X509_verify_cert(ctx.get());
    if (error) *error = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
    return rc;
}

/// The store key of these tests (a fixed 32-byte key; the real one comes from the key file).
const courtroute::secret_box& test_box() {
    static const courtroute::secret_box box{std::array<unsigned char, 32>{1, 2, 3, 4, 5, 6, 7, 8}};
    return box;
}

/// Another key: a sealed CA key must not open with it.
const courtroute::secret_box& other_box() {
    static const courtroute::secret_box box{std::array<unsigned char, 32>{9, 9, 9}};
    return box;
}

/// What a registry with the ca9 ACMS hosts gives a new CA.
const std::vector<std::string>& court_names() {
    static const std::vector<std::string> names =
        ca_permitted_names({"ecf.azb.uscourts.gov", "ca9-showdoc.azurewebsites.us", "ecf.nysd.uscourts.gov"});
    return names;
}

local_ca create_ca(const fs::path& dir) { return local_ca::open_or_create(dir, test_box(), court_names()); }

std::shared_ptr<const local_ca> open_ca(const fs::path& dir) {
    return std::make_shared<const local_ca>(create_ca(dir));
}

template <class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no exception)";
}

} // namespace

// ---------------------------------------------------------------------------------- local_ca

TEST(LocalCa, CreatesKeyAndCertificateWithModesAndExtensions) {
    temp_dir dir;
    const auto ca = create_ca(dir.path() / "state");
    const fs::path ca_dir = dir.path() / "state" / "ca";
    EXPECT_EQ(ca.cert_path(), ca_dir / "ca.pem");
    EXPECT_EQ(mode_of(ca_dir), 0700u);
    EXPECT_EQ(mode_of(ca_dir / "ca.key.sealed"), 0600u);
    EXPECT_EQ(mode_of(ca_dir / "ca.pem"), 0644u);
    EXPECT_FALSE(fs::exists(ca_dir / "ca.key")) << "the key is never written in clear";
    EXPECT_EQ(slurp(ca.cert_path()), ca.cert_pem());
    EXPECT_TRUE(ca.key_sealed());
    EXPECT_TRUE(ca.constrained());
    EXPECT_FALSE(ca.plain_key_present());

    X509* cert = ca.cert();
    EXPECT_EQ(subject_field(cert, NID_commonName), "courtroute local CA");
    EXPECT_EQ(subject_field(cert, NID_organizationName), "courtroute");
    EXPECT_EQ(X509_check_ca(cert), 1);
    EXPECT_EQ(X509_get_pathlen(cert), 0);
    EXPECT_TRUE(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN);
    EXPECT_TRUE(X509_get_key_usage(cert) & KU_CRL_SIGN);
    EXPECT_FALSE(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE);
    EXPECT_NE(X509_get0_subject_key_id(cert), nullptr);
    int crit = 0;
    auto* bc = static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(cert, NID_basic_constraints, &crit, nullptr));
    ASSERT_NE(bc, nullptr);
    EXPECT_EQ(crit, 1);
    BASIC_CONSTRAINTS_free(bc);
    EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)), 0);
    EXPECT_EQ(X509_verify(cert, X509_get0_pubkey(cert)), 1) << "self-signed signature must verify";
    EXPECT_EQ(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);

    EVP_PKEY* pub = X509_get0_pubkey(cert);
    EXPECT_TRUE(EVP_PKEY_is_a(pub, "EC"));
    EXPECT_EQ(EVP_PKEY_get_bits(pub), 256);
    const long long lifetime = seconds_between(X509_get0_notBefore(cert), X509_get0_notAfter(cert));
    EXPECT_GT(lifetime, 3640LL * 86400);
    EXPECT_LT(lifetime, 3660LL * 86400);
    EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(cert)), 0) << "notBefore must be in the past";
}

TEST(LocalCa, ReopenLoadsTheSameCertificateAndTwoInstallsDiffer) {
    temp_dir a, b;
    const auto first = create_ca(a.path());
    const std::string pem = slurp(first.cert_path());
    const std::string key = slurp(a.path() / "ca" / "ca.key.sealed");
    const auto again = create_ca(a.path());
    EXPECT_EQ(slurp(again.cert_path()), pem);
    EXPECT_EQ(again.cert_pem(), pem);
    EXPECT_EQ(slurp(a.path() / "ca" / "ca.key.sealed"), key) << "reopening must not rewrite the key";
    EXPECT_EQ(X509_cmp(first.cert(), again.cert()), 0);

    const auto other = create_ca(b.path());
    EXPECT_NE(X509_NAME_cmp(X509_get_subject_name(first.cert()), X509_get_subject_name(other.cert())), 0);
    EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(first.cert()), X509_get0_serialNumber(other.cert())), 0);
    EXPECT_NE(EVP_PKEY_eq(X509_get0_pubkey(first.cert()), X509_get0_pubkey(other.cert())), 1);
    // The leaf key is one per process, whichever CA signs.
    EXPECT_EQ(first.leaf_key(), other.leaf_key());
}

TEST(LocalCa, RefusesCorruptKey) {
    temp_dir dir;
    (void)create_ca(dir.path());
    const fs::path key = dir.path() / "ca" / "ca.key.sealed";
    std::string sealed = slurp(key);
    sealed[sealed.size() - 5] ^= 0x20; // one bit of the ciphertext or tag
    spit(key, sealed);
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
    std::string msg = message_of([&] { (void)create_ca(dir.path()); });
    EXPECT_NE(msg.find(key.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("cannot be opened with the store key"), std::string::npos) << msg;

    spit(key, "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n");
    msg = message_of([&] { (void)create_ca(dir.path()); });
    EXPECT_NE(msg.find("not a sealed courtroute CA key"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("not base64"), std::string::npos) << "key file contents must not leak: " << msg;
}

TEST(LocalCa, RefusesKeyThatDoesNotMatchCertificate) {
    temp_dir a, b;
    (void)create_ca(a.path());
    (void)create_ca(b.path());
    fs::copy_file(b.path() / "ca" / "ca.key.sealed", a.path() / "ca" / "ca.key.sealed",
                  fs::copy_options::overwrite_existing);
    const std::string msg = message_of([&] { (void)create_ca(a.path()); });
    EXPECT_NE(msg.find("does not match"), std::string::npos) << msg;
    EXPECT_NE(msg.find("ca.key"), std::string::npos) << msg;
}

TEST(LocalCa, RefusesGroupReadableKeyAndCorruptCertificate) {
    temp_dir dir;
    (void)create_ca(dir.path());
    const fs::path key = dir.path() / "ca" / "ca.key.sealed";
    fs::permissions(key, fs::perms::group_read | fs::perms::others_read, fs::perm_options::add);
    EXPECT_NE(message_of([&] { (void)create_ca(dir.path()); }).find("readable by group"),
              std::string::npos);
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
    spit(dir.path() / "ca" / "ca.pem", "garbage");
    const std::string msg = message_of([&] { (void)create_ca(dir.path()); });
    EXPECT_NE(msg.find("ca.pem"), std::string::npos) << msg;
}

TEST(LocalCa, MissingCertificateIsReissuedForTheExistingKey) {
    temp_dir dir;
    const auto first = create_ca(dir.path());
    const std::string key = slurp(dir.path() / "ca" / "ca.key.sealed");
    fs::remove(first.cert_path());
    const auto second = create_ca(dir.path());
    EXPECT_EQ(slurp(dir.path() / "ca" / "ca.key.sealed"), key);
    EXPECT_TRUE(second.constrained());
    EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(first.cert()), X509_get0_pubkey(second.cert())), 1);

    // The other way round (certificate without its key) cannot be repaired and must say so.
    fs::remove(dir.path() / "ca" / "ca.key.sealed");
    const std::string msg = message_of([&] { (void)create_ca(dir.path()); });
    EXPECT_NE(msg.find("ca.key.sealed"), std::string::npos) << msg;
    EXPECT_NE(msg.find("courtroute ca --rotate"), std::string::npos) << msg;
}

// ------------------------------------------------------------------------------------- mint

TEST(Mint, LeafVerifiesAgainstTheCaForExactlyItsHost) {
    temp_dir dir;
    const auto ca = create_ca(dir.path());
    const auto now = system_clock::now();
    const auto leaf = ca.mint("ECF.azb.uscourts.gov", now);
    ASSERT_TRUE(leaf);

    std::string err;
    EXPECT_EQ(verify_leaf(ca.cert(), leaf.get(), now, &err), 1) << err;
    EXPECT_EQ(X509_check_host(leaf.get(), "ecf.azb.uscourts.gov", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_host(leaf.get(), "ecf.other.uscourts.gov", 0, 0, nullptr), 0);
    EXPECT_EQ(X509_check_host(leaf.get(), "azb.uscourts.gov", 0, 0, nullptr), 0);
    EXPECT_EQ(subject_field(leaf.get(), NID_commonName), "ecf.azb.uscourts.gov");

    // Expired after 7 days, not yet valid more than an hour before minting.
    EXPECT_NE(verify_leaf(ca.cert(), leaf.get(), now + 7 * 24h + 1min), 1);
    EXPECT_NE(verify_leaf(ca.cert(), leaf.get(), now - 2h), 1);
    EXPECT_EQ(verify_leaf(ca.cert(), leaf.get(), now - 30min), 1);
    EXPECT_EQ(seconds_between(X509_get0_notBefore(leaf.get()), X509_get0_notAfter(leaf.get())), 7 * 86400 + 3600);

    // A different CA does not vouch for it.
    temp_dir other_dir;
    const auto other = create_ca(other_dir.path());
    EXPECT_NE(verify_leaf(other.cert(), leaf.get(), now), 1);
}

TEST(Mint, LeafExtensions) {
    temp_dir dir;
    const auto ca = create_ca(dir.path());
    const auto leaf = ca.mint("ecf.azb.uscourts.gov");

    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf.get(), NID_subject_alt_name, nullptr, nullptr));
    ASSERT_NE(sans, nullptr);
    ASSERT_EQ(sk_GENERAL_NAME_num(sans), 1);
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, 0);
    ASSERT_EQ(gn->type, GEN_DNS);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                          static_cast<std::size_t>(ASN1_STRING_length(gn->d.dNSName))),
              "ecf.azb.uscourts.gov");
    GENERAL_NAMES_free(sans);

    EXPECT_TRUE(X509_get_extension_flags(leaf.get()) & EXFLAG_XKUSAGE);
    EXPECT_TRUE(X509_get_extended_key_usage(leaf.get()) & XKU_SSL_SERVER);
    EXPECT_EQ(X509_check_ca(leaf.get()), 0);
    EXPECT_TRUE(X509_get_extension_flags(leaf.get()) & EXFLAG_BCONS) << "basicConstraints CA:FALSE must be present";
    const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(leaf.get());
    ASSERT_NE(akid, nullptr);
    EXPECT_EQ(ASN1_OCTET_STRING_cmp(akid, X509_get0_subject_key_id(ca.cert())), 0);
    EXPECT_EQ(X509_get_signature_nid(leaf.get()), NID_ecdsa_with_SHA256);
    EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(leaf.get()), X509_get_subject_name(ca.cert())), 0);

    // Serial: random per leaf, 128 bits. Key: the shared leaf key, not the CA's.
    const auto second = ca.mint("ecf.azb.uscourts.gov");
    EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf.get()), X509_get0_serialNumber(second.get())), 0);
    EXPECT_EQ(X509_get0_serialNumber(leaf.get())->length, 16);
    EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(leaf.get()), ca.leaf_key()), 1);
    EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(second.get()), ca.leaf_key()), 1);
    EXPECT_NE(EVP_PKEY_eq(X509_get0_pubkey(leaf.get()), X509_get0_pubkey(ca.cert())), 1);
}

TEST(Mint, RefusesIpLiterals) {
    temp_dir dir;
    const auto ca = create_ca(dir.path());
    for (const char* ip : {"127.0.0.1", "[::1]", "::1", "10.0.0.1", "[2001:db8::1]"}) {
        EXPECT_FALSE(ca.permits(ip)) << ip;
        const std::string msg = message_of([&] { (void)ca.mint(ip); });
        EXPECT_NE(msg.find("IP addresses"), std::string::npos) << ip << ": " << msg;
        EXPECT_THROW((void)ca.mint(ip), std::invalid_argument) << ip;
    }
}

TEST(Mint, RejectsInvalidHostsWithoutCrashing) {
    temp_dir dir;
    const auto ca = create_ca(dir.path());
    for (std::string bad : {std::string(), std::string("*.uscourts.gov"), std::string("a..b"), std::string(".a"),
                            std::string("a."), std::string("evil\r\nhost"), std::string("a,DNS:b"),
                            std::string("ho st"), std::string(300, 'a'), std::string("x\0y", 3),
                            std::string(64, 'a') + ".gov"}) {
        EXPECT_THROW((void)ca.mint(bad), std::invalid_argument) << bad.size();
    }
    // Long but valid: no CN (64-char limit), still a SAN.
    const std::string long_host = std::string(63, 'a') + "." + std::string(63, 'b') + ".uscourts.gov";
    const auto leaf = ca.mint(long_host);
    EXPECT_EQ(X509_check_host(leaf.get(), long_host.c_str(), long_host.size(), 0, nullptr), 1);
}

// ------------------------------------------------------------------------------ constraints

namespace {

/// The CA key, unsealed the way the file format says (magic, then secret_box under the store
/// key with `sealed_key_context`): independent of local_ca's own loader.
pkey_ptr unseal_ca_key(const fs::path& state, const courtroute::secret_box& box) {
    const std::string file = slurp(state / "ca" / "ca.key.sealed");
    if (!file.starts_with(sealed_key_magic)) return nullptr;
    auto der = box.open(std::string_view(file).substr(sealed_key_magic.size()), sealed_key_context);
    if (!der) return nullptr;
    const auto* p = reinterpret_cast<const unsigned char*>(der->data());
    return pkey_ptr(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der->size())));
}

/// A leaf for `name` (a DNS name, or an IP address when `ip`) signed with the CA's key by plain
/// OpenSSL, bypassing `local_ca::mint` and its refusals: what a thief of the key could make.
x509_ptr forge_leaf(X509* ca_cert, EVP_PKEY* ca_key, EVP_PKEY* leaf_key, const std::string& name, bool ip = false) {
    x509_ptr cert(X509_new());
    X509_set_version(cert.get(), X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 4242);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
    X509_NAME* subject = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(name.c_str()), -1,
                               -1, 0);
    X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert));
    X509_set_pubkey(cert.get(), leaf_key);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca_cert, cert.get(), nullptr, nullptr, 0);
    const std::string san = (ip ? "IP:" : "DNS:") + name;
    for (auto [nid, value] : {std::pair<int, std::string>{NID_subject_alt_name, san},
                              {NID_basic_constraints, "critical,CA:FALSE"},
                              {NID_ext_key_usage, "serverAuth"},
                              {NID_authority_key_identifier, "keyid:always"}}) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
        EXPECT_NE(ext, nullptr) << value;
        X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
    }
    EXPECT_GT(X509_sign(cert.get(), ca_key, EVP_sha256()), 0);
    return cert;
}

/// An old courtroute's CA: plain PEM key (0600) and an unconstrained certificate, made with
/// plain OpenSSL.
void make_old_ca(const fs::path& state) {
    fs::create_directories(state / "ca");
    pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    x509_ptr cert(X509_new());
    X509_set_version(cert.get(), X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -86400);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400 * 365);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>("courtroute local CA"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
    X509_set_pubkey(cert.get(), key.get());
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair<int, const char*>{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                              {NID_key_usage, "critical,keyCertSign,cRLSign"},
                              {NID_subject_key_identifier, "hash"}}) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
        X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(cert.get(), key.get(), EVP_sha256());
    std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new_file((state / "ca" / "ca.key").c_str(), "w"), &BIO_free);
    PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    kb.reset();
    fs::permissions(state / "ca" / "ca.key", fs::perms::owner_read | fs::perms::owner_write);
    std::unique_ptr<BIO, decltype(&BIO_free)> cb(BIO_new_file((state / "ca" / "ca.pem").c_str(), "w"), &BIO_free);
    PEM_write_bio_X509(cb.get(), cert.get());
}

} // namespace

TEST(Constraints, PermittedNamesAreUscourtsPlusHostsOutsideIt) {
    EXPECT_EQ(ca_permitted_names({}), std::vector<std::string>{"uscourts.gov"});
    EXPECT_EQ(ca_permitted_names({"ecf.azb.uscourts.gov", "ECF.ohndad.ohnd.uscourts.gov", "uscourts.gov",
                                  "ca9-showdoc.azurewebsites.us", "CA2-showdoc.azurewebsites.us",
                                  "ca2-showdoc.azurewebsites.us", "a.acms.example", "x.a.acms.example",
                                  "127.0.0.1", "notuscourts.gov"}),
              (std::vector<std::string>{"uscourts.gov", "a.acms.example", "ca2-showdoc.azurewebsites.us",
                                        "ca9-showdoc.azurewebsites.us", "notuscourts.gov"}));
}

TEST(Constraints, CaCertificateCarriesCriticalNameConstraints) {
    temp_dir dir;
    const auto ca = create_ca(dir.path());
    int crit = 0;
    auto* nc = static_cast<NAME_CONSTRAINTS*>(X509_get_ext_d2i(ca.cert(), NID_name_constraints, &crit, nullptr));
    ASSERT_NE(nc, nullptr) << "nameConstraints must be present";
    EXPECT_EQ(crit, 1) << "nameConstraints must be critical";
    NAME_CONSTRAINTS_free(nc);

    const auto& c = ca.constraints();
    EXPECT_TRUE(c.present);
    EXPECT_TRUE(c.critical);
    EXPECT_EQ(c.permitted_dns, (std::vector<std::string>{"uscourts.gov", "ca9-showdoc.azurewebsites.us"}));
    EXPECT_TRUE(c.excluded_dns.empty());
    EXPECT_TRUE(c.excludes_all_ip);
    EXPECT_EQ(X509_get_pathlen(ca.cert()), 0);
    EXPECT_EQ(X509_get_key_usage(ca.cert()), static_cast<std::uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));

    // The constraints come from the certificate: reopening with another list changes nothing.
    const auto again = local_ca::open_or_create(dir.path(), test_box(), {"example.com"});
    EXPECT_EQ(again.constraints().permitted_dns, c.permitted_dns);
    EXPECT_FALSE(again.permits("www.example.com"));
}

TEST(Constraints, PermitsMatchesWholeLabelsOnly) {
    temp_dir dir;
    const auto ca = create_ca(dir.path());
    for (const char* ok : {"ecf.azb.uscourts.gov", "ECF.AZB.USCOURTS.GOV", "uscourts.gov", "new.court.uscourts.gov",
                           "ca9-showdoc.azurewebsites.us", "x.ca9-showdoc.azurewebsites.us"})
        EXPECT_TRUE(ca.permits(ok)) << ok;
    for (const char* bad : {"www.example.com", "notuscourts.gov", "uscourts.gov.example.com", "uscourts.gov.",
                            "azurewebsites.us", "ca2-showdoc.azurewebsites.us", "evil-ca9-showdoc.azurewebsites.us",
                            "127.0.0.1", "[::1]", "", "*.uscourts.gov"})
        EXPECT_FALSE(ca.permits(bad)) << bad;
}

TEST(Constraints, MintRefusesNamesOutsideTheConstraints) {
    temp_dir dir;
    const auto ca = create_ca(dir.path());
    for (const char* bad : {"www.example.com", "notuscourts.gov", "uscourts.gov.example.com", "ca2-showdoc.azurewebsites.us"}) {
        const std::string msg = message_of([&] { (void)ca.mint(bad); });
        EXPECT_NE(msg.find("do not permit"), std::string::npos) << bad << ": " << msg;
        EXPECT_NE(msg.find("courtroute ca --rotate"), std::string::npos) << msg;
        EXPECT_THROW((void)ca.mint(bad), std::invalid_argument) << bad;
    }
    const auto now = system_clock::now();
    for (const char* ok : {"ecf.azb.uscourts.gov", "ca9-showdoc.azurewebsites.us"}) {
        const auto leaf = ca.mint(ok, now);
        std::string err;
        EXPECT_EQ(verify_leaf(ca.cert(), leaf.get(), now, &err), 1) << ok << ": " << err;
    }
    leaf_cache cache(open_ca(dir.path()));
    EXPECT_THROW((void)cache.server_context("www.example.com"), std::invalid_argument);
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_EQ(cache.minted(), 0u);
}

TEST(Constraints, LeafForgedWithTheCaKeyOutsideTheConstraintsFailsVerification) {
    temp_dir dir;
    const auto ca = create_ca(dir.path());
    const pkey_ptr ca_key = unseal_ca_key(dir.path(), test_box());
    ASSERT_TRUE(ca_key);
    ASSERT_EQ(X509_check_private_key(ca.cert(), ca_key.get()), 1);
    const auto now = system_clock::now();

    // Same key, same signer, same extensions: only the name differs.
    std::string err;
    const auto court = forge_leaf(ca.cert(), ca_key.get(), ca.leaf_key(), "ecf.azb.uscourts.gov");
    EXPECT_EQ(verify_leaf(ca.cert(), court.get(), now, &err), 1) << err;
    const auto extra = forge_leaf(ca.cert(), ca_key.get(), ca.leaf_key(), "ca9-showdoc.azurewebsites.us");
    EXPECT_EQ(verify_leaf(ca.cert(), extra.get(), now, &err), 1) << err;

    const auto other = forge_leaf(ca.cert(), ca_key.get(), ca.leaf_key(), "www.example.com");
    EXPECT_NE(verify_leaf(ca.cert(), other.get(), now, &err), 1);
    EXPECT_EQ(err, "permitted subtree violation");
    const auto lookalike = forge_leaf(ca.cert(), ca_key.get(), ca.leaf_key(), "uscourts.gov.example.com");
    EXPECT_NE(verify_leaf(ca.cert(), lookalike.get(), now, &err), 1);
    const auto ip4 = forge_leaf(ca.cert(), ca_key.get(), ca.leaf_key(), "127.0.0.1", true);
    EXPECT_NE(verify_leaf(ca.cert(), ip4.get(), now, &err), 1);
    EXPECT_EQ(err, "excluded subtree violation");
    const auto ip6 = forge_leaf(ca.cert(), ca_key.get(), ca.leaf_key(), "::1", true);
    EXPECT_NE(verify_leaf(ca.cert(), ip6.get(), now, &err), 1);
    EXPECT_EQ(err, "excluded subtree violation");
}

TEST(Constraints, KeyOnDiskIsSealedAndOpensOnlyWithTheStoreKey) {
    temp_dir dir;
    const auto ca = create_ca(dir.path());
    const std::string file = slurp(dir.path() / "ca" / "ca.key.sealed");
    EXPECT_TRUE(file.starts_with(sealed_key_magic));
    EXPECT_EQ(file.find("-----BEGIN"), std::string::npos) << "not PEM";
    EXPECT_EQ(file.find("PRIVATE"), std::string::npos);
    // Neither the PEM nor the DER of a P-256 key appears: its 32-byte scalar would, in clear.
    {
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(file.data(), static_cast<int>(file.size())),
                                                      &BIO_free);
        EXPECT_EQ(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), nullptr);
        ERR_clear_error();
        const auto* p = reinterpret_cast<const unsigned char*>(file.data());
        EXPECT_EQ(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(file.size())), nullptr);
        ERR_clear_error();
    }
    const pkey_ptr key = unseal_ca_key(dir.path(), test_box());
    ASSERT_TRUE(key);
    EXPECT_EQ(X509_check_private_key(ca.cert(), key.get()), 1);
    EXPECT_FALSE(unseal_ca_key(dir.path(), other_box())) << "another store key must not open it";

    const std::string msg =
        message_of([&] { (void)local_ca::open_or_create(dir.path(), other_box(), court_names()); });
    EXPECT_NE(msg.find("cannot be opened with the store key"), std::string::npos) << msg;
}

TEST(Constraints, NewCaNeedsValidNames) {
    temp_dir dir;
    EXPECT_THROW((void)local_ca::open_or_create(dir.path(), test_box(), {}), std::invalid_argument);
    EXPECT_THROW((void)local_ca::open_or_create(dir.path(), test_box(), {"127.0.0.1"}), std::invalid_argument);
    EXPECT_THROW((void)local_ca::open_or_create(dir.path(), test_box(), {"a,DNS:*"}), std::invalid_argument);
    EXPECT_FALSE(fs::exists(dir.path() / "ca" / "ca.key.sealed")) << "a refused list leaves nothing behind";
}

// ---------------------------------------------------------------------------- old CA, rotate

TEST(Rotate, OldPlainCaStillOpensButSaysSo) {
    temp_dir dir;
    make_old_ca(dir.path());
    const auto ca = create_ca(dir.path());
    EXPECT_FALSE(ca.constrained());
    EXPECT_FALSE(ca.key_sealed());
    EXPECT_TRUE(ca.plain_key_present());
    EXPECT_FALSE(fs::exists(dir.path() / "ca" / "ca.key.sealed")) << "opening never migrates on its own";
    // It keeps working for court hosts (the proxy must not break), never for IPs.
    const auto leaf = ca.mint("ecf.azb.uscourts.gov");
    EXPECT_EQ(verify_leaf(ca.cert(), leaf.get(), system_clock::now()), 1);
    EXPECT_THROW((void)ca.mint("127.0.0.1"), std::invalid_argument);
}

TEST(Rotate, ReplacesAnOldPlainCaWithAConstrainedSealedOne) {
    temp_dir dir;
    make_old_ca(dir.path());
    const fs::path ca_dir = dir.path() / "ca";
    const std::string old_pem = slurp(ca_dir / "ca.pem");

    const auto r = local_ca::rotate(dir.path(), test_box(), court_names());
    EXPECT_EQ(r.cert, ca_dir / "ca.pem");
    EXPECT_TRUE(r.had_old_ca);
    EXPECT_FALSE(r.old_was_constrained);
    EXPECT_TRUE(r.removed_plain_key);
    ASSERT_TRUE(r.old_cert);
    EXPECT_EQ(*r.old_cert, ca_dir / "ca.pem.old");
    EXPECT_EQ(slurp(ca_dir / "ca.pem.old"), old_pem);
    EXPECT_EQ(r.permitted, (std::vector<std::string>{"uscourts.gov", "ca9-showdoc.azurewebsites.us"}));
    EXPECT_FALSE(fs::exists(ca_dir / "ca.key")) << "the plain key is gone";
    EXPECT_FALSE(fs::exists(ca_dir / "ca.key.sealed.new"));
    EXPECT_FALSE(fs::exists(ca_dir / "ca.pem.new"));
    EXPECT_EQ(mode_of(ca_dir / "ca.key.sealed"), 0600u);
    EXPECT_EQ(mode_of(ca_dir / "ca.pem"), 0644u);
    EXPECT_NE(slurp(ca_dir / "ca.pem"), old_pem);

    const auto ca = create_ca(dir.path());
    EXPECT_TRUE(ca.constrained());
    EXPECT_TRUE(ca.key_sealed());
    EXPECT_FALSE(ca.plain_key_present());

    // Rotating a constrained CA again makes yet another one, for the names given now.
    const auto again = local_ca::rotate(dir.path(), test_box(), ca_permitted_names({"acms.example.org"}));
    EXPECT_TRUE(again.old_was_constrained);
    EXPECT_FALSE(again.removed_plain_key);
    const auto third = create_ca(dir.path());
    EXPECT_TRUE(third.permits("acms.example.org"));
    EXPECT_FALSE(third.permits("ca9-showdoc.azurewebsites.us"));
    EXPECT_NE(X509_cmp(third.cert(), ca.cert()), 0);
}

TEST(Rotate, RepairsABrokenLayout) {
    temp_dir dir;
    (void)create_ca(dir.path());
    fs::remove(dir.path() / "ca" / "ca.key.sealed"); // certificate without key: cannot open
    EXPECT_THROW((void)create_ca(dir.path()), std::runtime_error);
    (void)local_ca::rotate(dir.path(), test_box(), court_names());
    EXPECT_TRUE(create_ca(dir.path()).constrained());
}

// ------------------------------------------------------------------------------- leaf_cache

TEST(LeafCache, CachesPerHostAndCounts) {
    temp_dir dir;
    auto ca = open_ca(dir.path());
    leaf_cache cache(ca);
    auto a = cache.server_context("ecf.azb.uscourts.gov");
    ASSERT_TRUE(a);
    EXPECT_EQ(cache.minted(), 1u);
    EXPECT_EQ(cache.hits(), 0u);
    auto again = cache.server_context("ECF.AZB.USCOURTS.GOV");
    EXPECT_EQ(again, a);
    EXPECT_EQ(cache.minted(), 1u);
    EXPECT_EQ(cache.hits(), 1u);
    auto b = cache.server_context("ecf.nysd.uscourts.gov");
    EXPECT_NE(b, a);
    EXPECT_EQ(cache.minted(), 2u);
    EXPECT_EQ(cache.hits(), 1u);
    EXPECT_EQ(cache.size(), 2u);

    // The context really carries the host's leaf and the CA chain.
    X509* leaf = SSL_CTX_get0_certificate(b->native_handle());
    ASSERT_NE(leaf, nullptr);
    EXPECT_EQ(X509_check_host(leaf, "ecf.nysd.uscourts.gov", 0, 0, nullptr), 1);
    STACK_OF(X509)* chain = nullptr;
    ASSERT_EQ(SSL_CTX_get0_chain_certs(b->native_handle(), &chain), 1);
    ASSERT_EQ(sk_X509_num(chain), 1);
    EXPECT_EQ(X509_cmp(sk_X509_value(chain, 0), ca->cert()), 0);
    EXPECT_TRUE(SSL_CTX_get_mode(b->native_handle()) & SSL_MODE_RELEASE_BUFFERS);
    EXPECT_EQ(SSL_CTX_get_min_proto_version(b->native_handle()), TLS1_2_VERSION);

    EXPECT_THROW((void)cache.server_context("bad host"), std::invalid_argument);
    EXPECT_EQ(cache.minted(), 2u);
}

TEST(LeafCache, RenewsWithinOneDayOfExpiry) {
    temp_dir dir;
    auto ca = open_ca(dir.path());
    auto now = system_clock::now();
    leaf_cache cache(ca, [&now] { return now; });
    auto first = cache.server_context("ecf.azb.uscourts.gov");
    EXPECT_EQ(cache.minted(), 1u);

    now += 5 * 24h; // two days left: still served from cache
    EXPECT_EQ(cache.server_context("ecf.azb.uscourts.gov"), first);
    EXPECT_EQ(cache.minted(), 1u);
    EXPECT_EQ(cache.hits(), 1u);

    now += 24h + 1min; // under a day left: renew
    auto renewed = cache.server_context("ecf.azb.uscourts.gov");
    EXPECT_NE(renewed, first);
    EXPECT_EQ(cache.minted(), 2u);
    EXPECT_EQ(cache.hits(), 1u);
    X509* leaf = SSL_CTX_get0_certificate(renewed->native_handle());
    std::string err;
    EXPECT_EQ(verify_leaf(ca->cert(), leaf, now + 6 * 24h, &err), 1) << err;

    EXPECT_EQ(cache.server_context("ecf.azb.uscourts.gov"), renewed);
    EXPECT_EQ(cache.minted(), 2u);
    EXPECT_EQ(cache.hits(), 2u);

    now -= 3 * 24h; // clock stepped back before the leaf's notBefore: re-mint rather than serve it
    EXPECT_NE(cache.server_context("ecf.azb.uscourts.gov"), renewed);
    EXPECT_EQ(cache.minted(), 3u);
}

TEST(LeafCache, EvictsLeastRecentlyUsedPastCapacity) {
    temp_dir dir;
    leaf_cache cache(open_ca(dir.path()), {}, 2);
    auto a = cache.server_context("a.uscourts.gov");
    (void)cache.server_context("b.uscourts.gov");
    EXPECT_EQ(cache.server_context("a.uscourts.gov"), a); // a is now the most recent
    (void)cache.server_context("c.uscourts.gov");         // evicts b
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(cache.minted(), 3u);
    EXPECT_EQ(cache.server_context("a.uscourts.gov"), a);
    EXPECT_EQ(cache.minted(), 3u);
    (void)cache.server_context("b.uscourts.gov");
    EXPECT_EQ(cache.minted(), 4u);
}

// -------------------------------------------------------------------------------- handshake

namespace {

struct handshake_result {
    boost::system::error_code client;
    boost::system::error_code server;
    std::string alpn;   // protocol the client ended up with
    bool reused = false; // client resumed a session
    bool exchanged = false;
};

/// Handshakes over a real loopback TCP connection. With `exchange`, the server then sends one
/// byte and the client reads it, which also makes the client take in TLS 1.3 session tickets.
handshake_result handshake(ssl::context& server_ctx, ssl::context& client_ctx, std::string_view host,
                           bool exchange = false) {
    net::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    tcp::socket client_socket(io);
    client_socket.connect(acceptor.local_endpoint());
    tcp::socket server_socket = acceptor.accept();
    ssl::stream<tcp::socket> server(std::move(server_socket), server_ctx);
    ssl::stream<tcp::socket> client(std::move(client_socket), client_ctx);
    prepare_upstream_stream(client, host);

    handshake_result r;
    char out = 'x';
    char in = 0;
    server.async_handshake(ssl::stream_base::server, [&](boost::system::error_code ec) {
        r.server = ec;
        if (!ec && exchange) net::async_write(server, net::buffer(&out, 1), [](auto, auto) {});
        if (ec) server.next_layer().close();
    });
    client.async_handshake(ssl::stream_base::client, [&](boost::system::error_code ec) {
        r.client = ec;
        if (ec) {
            client.next_layer().close();
            return;
        }
        const unsigned char* proto = nullptr;
        unsigned int len = 0;
        SSL_get0_alpn_selected(client.native_handle(), &proto, &len);
        r.alpn.assign(reinterpret_cast<const char*>(proto), len);
        r.reused = SSL_session_reused(client.native_handle()) == 1;
        if (exchange)
            net::async_read(client, net::buffer(&in, 1), [&](boost::system::error_code rec, std::size_t) {
                r.exchanged = !rec && in == 'x';
            });
    });
    io.run_for(10s);
    return r;
}

} // namespace

TEST(Handshake, UpstreamContextTrustingTheCaAcceptsTheRightHostOnly) {
    temp_dir dir;
    auto ca = open_ca(dir.path());
    leaf_cache cache(ca);
    auto server_ctx = cache.server_context("ecf.azb.uscourts.gov");
    auto client_ctx = make_upstream_context(ca->cert_path());

    auto ok = handshake(*server_ctx, *client_ctx, "ecf.azb.uscourts.gov", true);
    EXPECT_FALSE(ok.client) << ok.client.message();
    EXPECT_FALSE(ok.server) << ok.server.message();
    EXPECT_EQ(ok.alpn, "http/1.1");
    EXPECT_TRUE(ok.exchanged);

    auto wrong = handshake(*server_ctx, *client_ctx, "ecf.other.uscourts.gov");
    EXPECT_TRUE(wrong.client) << "a certificate for another host must be refused";
    EXPECT_NE(wrong.client.message().find("certificate verify failed"), std::string::npos) << wrong.client.message();

    // Without the local CA (system store only) the same server is refused.
    auto system_only = make_upstream_context({});
    auto untrusted = handshake(*server_ctx, *system_only, "ecf.azb.uscourts.gov");
    EXPECT_TRUE(untrusted.client);
}

TEST(Handshake, ClientOfferingOnlyH2ProceedsWithoutAlpn) {
    temp_dir dir;
    auto ca = open_ca(dir.path());
    leaf_cache cache(ca);
    auto server_ctx = cache.server_context("ecf.azb.uscourts.gov");
    auto client_ctx = make_upstream_context(ca->cert_path());
    static constexpr unsigned char h2[] = {2, 'h', '2'};
    ASSERT_EQ(SSL_CTX_set_alpn_protos(client_ctx->native_handle(), h2, sizeof h2), 0);
    auto r = handshake(*server_ctx, *client_ctx, "ecf.azb.uscourts.gov", true);
    EXPECT_FALSE(r.client) << r.client.message();
    EXPECT_FALSE(r.server) << r.server.message();
    EXPECT_EQ(r.alpn, "");
    EXPECT_TRUE(r.exchanged);
}

TEST(Handshake, SecondConnectionResumesTheSession) {
    temp_dir dir;
    auto ca = open_ca(dir.path());
    leaf_cache cache(ca);
    auto server_ctx = cache.server_context("ecf.azb.uscourts.gov");
    auto client_ctx = make_upstream_context(ca->cert_path());
    auto first = handshake(*server_ctx, *client_ctx, "ecf.azb.uscourts.gov", true);
    ASSERT_FALSE(first.client) << first.client.message();
    EXPECT_FALSE(first.reused);
    ASSERT_TRUE(first.exchanged);
    auto second = handshake(*server_ctx, *client_ctx, "ecf.azb.uscourts.gov", true);
    ASSERT_FALSE(second.client) << second.client.message();
    EXPECT_TRUE(second.reused);
    // A session for one host is never offered to another (which fails verification anyway).
    auto other = handshake(*server_ctx, *client_ctx, "ecf.other.uscourts.gov");
    EXPECT_TRUE(other.client);
    EXPECT_FALSE(other.reused);
}

TEST(UpstreamContext, RejectsMissingOrInvalidExtraCaFile) {
    temp_dir dir;
    const fs::path missing = dir.path() / "nope.pem";
    const std::string msg = message_of([&] { (void)make_upstream_context(missing); });
    EXPECT_NE(msg.find(missing.string()), std::string::npos) << msg;
    EXPECT_THROW((void)make_upstream_context(missing), std::runtime_error);

    const fs::path garbage = dir.path() / "garbage.pem";
    spit(garbage, "this is not a certificate\n");
    const std::string msg2 = message_of([&] { (void)make_upstream_context(garbage); });
    EXPECT_NE(msg2.find(garbage.string()), std::string::npos) << msg2;

    auto ctx = make_upstream_context({});
    EXPECT_EQ(SSL_CTX_get_verify_mode(ctx->native_handle()) & SSL_VERIFY_PEER, SSL_VERIFY_PEER);
    EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->native_handle()), TLS1_2_VERSION);
    EXPECT_TRUE(SSL_CTX_get_mode(ctx->native_handle()) & SSL_MODE_RELEASE_BUFFERS);
}

TEST(UpstreamContext, PrepareRejectsEmptyHost) {
    auto ctx = make_upstream_context({});
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx->native_handle()), &SSL_free);
    EXPECT_THROW(prepare_upstream_stream(ssl.get(), ""), std::invalid_argument);
    EXPECT_THROW(prepare_upstream_stream(ssl.get(), std::string_view("a\0b", 3)), std::invalid_argument);
    prepare_upstream_stream(ssl.get(), "ECF.azb.uscourts.gov");
    EXPECT_STREQ(SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name), "ecf.azb.uscourts.gov");
    prepare_upstream_stream(ssl.get(), "127.0.0.1");
}
