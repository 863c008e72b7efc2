// Test-only helper, never installed: unseals a courtroute CA key (`ca.key.sealed`) with a store
// key file and writes it as PEM (0600) to a file the test names, so the e2e test can sign
// certificates with the stock `openssl` CLI and show that verifiers, not courtroute's minting
// code, refuse leaves outside the CA's name constraints.
//
//   courtroute_test_unseal_ca_key KEY_FILE SEALED_KEY OUT_PEM
//
// Exit 0 on success, 1 when the key does not open (wrong store key, damaged file), 2 on usage.
#include "store/crypto.hpp"
#include "tls/local_ca.hpp"

#include <openssl/bio.h>
#include <openssl/pem.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: courtroute_test_unseal_ca_key KEY_FILE SEALED_KEY OUT_PEM\n";
        return 2;
    }
    try {
        const auto box = courtroute::secret_box::from_key_file(argv[1], false);
        std::ifstream in(argv[2], std::ios::binary);
        std::ostringstream buf;
        buf << in.rdbuf();
        const std::string file = buf.str();
        namespace tls = courtroute::tls;
        if (!file.starts_with(tls::sealed_key_magic)) {
            std::cerr << "not a sealed courtroute CA key\n";
            return 1;
        }
        auto der = box.open(std::string_view(file).substr(tls::sealed_key_magic.size()), tls::sealed_key_context);
        if (!der) {
            std::cerr << "the sealed CA key does not open with this store key\n";
            return 1;
        }
        const auto* p = reinterpret_cast<const unsigned char*>(der->data());
        tls::pkey_ptr key(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der->size())));
        if (!key) {
            std::cerr << "the sealed CA key holds no private key\n";
            return 1;
        }
        const int fd = ::open(argv[3], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            std::cerr << "cannot create " << argv[3] << '\n';
            return 1;
        }
        BIO* out = BIO_new_fd(fd, BIO_CLOSE);
        const bool ok = out && PEM_write_bio_PrivateKey(out, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
        BIO_free(out);
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << e.what() << '\n';
        return 1;
    }
}
