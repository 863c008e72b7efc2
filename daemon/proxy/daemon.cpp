#include "proxy/daemon.hpp"

#include "store/open.hpp"

#include <boost/json.hpp>

#include <thread>

#include "core/log.hpp"
#include "proxy/listener.hpp"
#include "proxy/worker.hpp"
#include "status/notify.hpp"
#include "status/report.hpp"
#include "tls/ca_setup.hpp"
#include "tls/contexts.hpp"

namespace courtroute::proxy {

using namespace std::chrono_literals;

namespace {

/// Opens the local CA for `snap` (creating it on first use; the state directory must exist).
/// On a reload (`previous` given) a CA that cannot be opened leaves the previous one in force,
/// and an unchanged CA keeps its leaf cache.
void attach_ca(snapshot& snap, const snapshot* previous) {
    try {
        auto ca = tls::open_local_ca(snap.cfg, *snap.reg);
        if (previous && X509_cmp(ca->cert(), previous->ca->cert()) == 0) {
            snap.ca = previous->ca;
            snap.leaves = previous->leaves;
        } else {
            if (previous) log::event("ca_reloaded", {{"ca", ca->cert_path().string()}});
            snap.ca = std::move(ca);
            snap.leaves = std::make_shared<tls::leaf_cache>(snap.ca);
        }
    } catch (const std::exception& e) {
        if (!previous) throw;  // the daemon cannot start without its CA
        log::event("ca_reload_failed", {{"error", e.what()}, {"outcome", "the CA loaded before stays in force"}});
        snap.ca = previous->ca;
        snap.leaves = previous->leaves;
    }
    tls::log_ca_problems(*snap.ca, *snap.reg);
}

/// Loads config and registry from `path`; nullptr (errors logged) when the config is unusable.
/// On a reload (`previous` given) the local CA comes along (see attach_ca); the first load
/// leaves it to the daemon, which opens the CA once the state directory exists.
std::shared_ptr<const snapshot> load_snapshot(const std::filesystem::path& path, bool explicitly_named,
                                              std::uint64_t generation, const snapshot* previous) {
    auto loaded = load_settings(path, explicitly_named);
    if (!loaded.errors.empty()) {
        for (auto& e : loaded.errors) log::event("config_error", {{"where", e.to_string()}});
        return nullptr;
    }
    auto snap = std::make_shared<snapshot>();
    snap->cfg = std::move(loaded.value);
    snap->reg = registry::load(snap->cfg.registry_dirs);
    for (auto& e : snap->reg->errors()) log::event("registry_error", {{"where", e.to_string()}});
    try {
        snap->upstream_tls = tls::make_upstream_context(snap->cfg.upstream_ca_file);
    } catch (const std::exception& e) {
        log::event("config_error", {{"where", path.string()}, {"error", e.what()}});
        return nullptr;
    }
    snap->generation = generation;
    if (previous) attach_ca(*snap, previous);
    return snap;
}

} // namespace

daemon::daemon(std::filesystem::path path, bool explicitly_named, std::shared_ptr<const snapshot> first)
    : config_path(std::move(path)), config_explicit(explicitly_named), config(first) {
    generations = first->generation;
    const auto& cfg = first->cfg;
    if (!cfg.store_url.empty()) {
        // The admin socket and the local CA live in the state folder, whichever the store.
        std::error_code ec;
        if (std::filesystem::create_directories(cfg.state_dir, ec))
            std::filesystem::permissions(cfg.state_dir, std::filesystem::perms::owner_all, ec);
    }
    db = open_store({cfg.store_url, cfg.effective_store_password_file(), cfg.state_dir, cfg.effective_key_file()});
    db->sync_at_checkpoints_only();  // ledger and audit writes from the request path: no fsync each
    auto complete = std::make_shared<snapshot>(*first);
    attach_ca(*complete, nullptr);
    config.publish(complete);
    // The embedded store's write-ahead log tells of CLI commits cheaply; a server store is asked
    // by the housekeeping timer instead.
    users = std::make_unique<user_directory>(*db, cfg.store_url.empty() ? cfg.database_file() : std::filesystem::path{});
    logins.share_through(*users);
    unsigned threads = cfg.listen_threads ? cfg.listen_threads : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < threads; ++i) workers.push_back(std::make_unique<worker>(*this, i));
    front = std::make_unique<listener>(*this);
    // A commit by the CLI can replace or remove credentials: their sessions end, upstream too.
    users->on_store_change = [this] {
        auto& w = *workers.front();
        net::post(w.io, [this, &w] { logins.drop_replaced(w); });
    };
}

daemon::~daemon() = default;

std::shared_ptr<const snapshot> daemon::load() const {
    auto previous = config.current();
    return load_snapshot(config_path, config_explicit, const_cast<daemon*>(this)->generations.fetch_add(1) + 1,
                         previous.get());
}

int daemon::run() {
    front->open();
    front->start();
    auto& first = *workers.front();
    // Housekeeping on worker 0: a slow backstop for noticing CLI commits, and session pruning.
    net::co_spawn(
        first.io,
        [this]() -> net::awaitable<void> {
            net::steady_timer t(co_await net::this_coro::executor);
            for (int tick = 0; !stopping; ++tick) {
                t.expires_after(1s);
                co_await t.async_wait(use_tuple);
                users->check_store();
                users->retry_marks();
                if (tick % 60 == 0) logins.prune();
            }
        },
        log_failure("housekeeping"));
    auto snap = config.current();
    log::event("listening", {{"address", snap->cfg.listen_proxy.to_string()},
                             {"courts", std::to_string(snap->reg->courts().size())},
                             {"threads", std::to_string(workers.size())},
                             {"ca", snap->ca->cert_path().string()}});
    notify::ready(summary_line());
    users->start_audit_writer([this] { return config.current()->cfg.audit_retention_days; });
    // A server store announces other daemons' and CLIs' commits (LISTEN/NOTIFY): seen at once
    // instead of at the next housekeeping tick, which stays as the backstop.
    std::unique_ptr<store::change_feed> feed;
    try {
        feed = db->changes();
    } catch (const std::exception& e) {
        log::event("change_feed_failed", {{"error", e.what()}, {"fallback", "checked every second"}});
    }
    std::thread listener;
    if (feed)
        listener = std::thread([this, &feed] {
            while (!stopping)
                if (feed->wait(500ms)) users->check_store();
        });
    for (std::size_t i = 1; i < workers.size(); ++i) workers[i]->start_thread();
    first.run();  // worker 0 runs on this thread
    for (std::size_t i = 1; i < workers.size(); ++i) workers[i]->join();
    if (listener.joinable()) listener.join();
    users->stop_audit_writer();  // the last moments of the audit trail
    log::event("stopped");
    return 0;
}

boost::json::object daemon::status_doc(const std::optional<std::string>& only_user) {
    auto snap = config.current();
    report_input in;
    in.reg = snap->reg.get();
    users->check_store();  // what the CLI just wrote counts (status is not on the hot path)
    in.users = users->all();
    if (only_user)
        std::erase_if(in.users, [&](const user_facts& u) { return u.user != *only_user; });
    in.today = today();
    in.now_unix = unix_now();
    in.uptime_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count();
    // The default client code's session is the one status reports.
    auto now = std::chrono::steady_clock::now();
    for (auto& u : in.users) {
        if (!u.pacer) continue;
        auto info = logins.find(auth::session_key::pacer(u.user, u.pacer->revision, u.pacer->client_code));
        if (info && info->state == auth::session_state::live && info->expires)
            u.runtime.pacer_expires_at =
                in.now_unix + std::chrono::duration_cast<std::chrono::seconds>(*info->expires - now).count();
    }
    // The fee budgets, as every answer would say them now: per user, under their default client code.
    if (const auto& budgets = snap->cfg.fees; budgets.any()) {
        const auto start = budget_period_start(budgets.period, in.now_unix);
        for (auto& u : in.users) {
            const std::string code = u.pacer ? u.pacer->client_code : std::string();
            const auto [by_user, by_code] = users->spent(u.user, code, start);
            u.runtime.budget = check_budget(budgets, u.user, code, by_user, by_code, 0, "").warnings;
        }
    }
    return status_report(in);
}

std::string daemon::status_json(const std::optional<std::string>& only_user) {
    return boost::json::serialize(status_doc(only_user)) + "\n";
}

std::string daemon::summary_line() {
    auto snap = config.current();
    auto all = users->all();
    auto warnings = compute_warnings(*snap->reg, all, today(), unix_now());
    return std::to_string(snap->reg->courts().size()) + " courts, " + std::to_string(all.size()) + " users, " +
           std::to_string(warnings.size()) + " warnings";
}

int run_daemon(const std::filesystem::path& config, bool explicitly_named) {
    std::unique_ptr<daemon> d;
    try {
        auto first = load_snapshot(config, explicitly_named, 1, nullptr);
        if (!first) return 1;
        d = std::make_unique<daemon>(config, explicitly_named, first);
        return d->run();
    } catch (const std::exception& e) {
        log::event("start_failed", {{"error", e.what()}});
        return 1;
    }
}

} // namespace courtroute::proxy
