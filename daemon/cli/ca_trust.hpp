#pragma once
/// `courtroute ca --install` / `--uninstall` (issue 11, item 2): put the local CA into the
/// system trust store and into the named users' NSS databases (Chromium, Firefox), record each
/// addition in a manifest beside the CA, and take out exactly what the manifest lists.
///
/// Only the public certificate is handled here: nothing secret reaches a file, a child's argv
/// or its environment (certutil reads the certificate on its standard input). `certutil` runs
/// as the user who owns the database, never as root on a user's files.
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace courtroute::cli {

/// Where trust is installed. In production every field has its default; the environment
/// variables exist ONLY so tests can run the real commands against temporary directories and
/// never touch the machine's trust store or anyone's home. Do not set them otherwise.
struct trust_targets {
    /// `/usr/local/share/ca-certificates`, the directory `update-ca-certificates` reads local
    /// certificates from. Test override: `COURTROUTE_CA_STORE_DIR`.
    std::filesystem::path system_dir = "/usr/local/share/ca-certificates";
    /// The program that rebuilds `/etc/ssl/certs` (looked up on PATH unless it contains a '/').
    /// Test override: `COURTROUTE_UPDATE_CA_CERTIFICATES` (a program run with no arguments).
    std::string update_command = "update-ca-certificates";
    /// Empty: each user's home comes from the password database. Test override
    /// `COURTROUTE_CA_HOME_BASE`: the home of user U is `<base>/U`.
    std::filesystem::path home_base;

    /// The defaults, with the test overrides above applied when set.
    [[nodiscard]] static trust_targets from_environment();
};

/// The manifest of what `install_ca_trust` added: `<state_dir>/ca/trust.json`.
[[nodiscard]] std::filesystem::path trust_manifest_path(const std::filesystem::path& state_dir);

/// One line per place the manifest says the CA was installed (empty when none), for
/// `ca --rotate` to say what must be re-trusted.
[[nodiscard]] std::vector<std::string> installed_trust(const std::filesystem::path& state_dir);

/// Thrown when nothing or only part could be done: one line, what and where.
struct trust_error : std::runtime_error {
    trust_error(const std::string& what, std::string where_)
        : std::runtime_error(what), where(std::move(where_)) {}
    std::string where; ///< the file, database or command concerned
};

/// Installs the CA certificate `cert_file` of the installation under `state_dir`:
/// copies it to `<system_dir>/courtroute-<id>.crt` (id: 8 hex digits derived from the state
/// directory, so two installations on one machine never collide) and runs update-ca-certificates
/// when that changed anything; adds it with `certutil -A -n "courtroute local CA (<id>)" -t C,,`
/// to every existing NSS database of each of `users` (`~/.pki/nssdb` for Chromium, each
/// `~/.mozilla/firefox/*/` profile with a cert9.db for Firefox). Entries of a previously
/// installed certificate (before a rotation) are removed first, and the users whose databases
/// held it get the new one as if named. Refuses an unconstrained CA.
/// Prints each change (and each place already up to date) on `out`; records every addition in
/// the manifest as it goes. Throws `trust_error` before changing anything when a needed program
/// is missing (naming the Debian package) or a user does not exist, and after the rest was
/// done when one step failed.
void install_ca_trust(const std::filesystem::path& state_dir, const std::filesystem::path& cert_file,
                      const std::vector<std::string>& users, const trust_targets& targets, std::ostream& out);

/// Removes exactly what the manifest lists, and nothing else: a system file only if it still
/// holds the certificate that was added, an NSS entry only if the nickname still names that
/// certificate. Prints each change on `out`; runs update-ca-certificates when a system file was
/// removed; leaves failed entries in the manifest (and throws `trust_error`) and deletes the
/// manifest once it is empty.
void uninstall_ca_trust(const std::filesystem::path& state_dir, const trust_targets& targets, std::ostream& out);

} // namespace courtroute::cli
