#include "proxy/daemon_state.hpp"

namespace courtroute::proxy {

// ---------------------------------------------------------------------------------------------
// upstream exchanges

net::awaitable<std::size_t> daemon_state::read_body_some(upstream_conn& conn,
                                                         http::response_parser<http::buffer_body>& p, char* buf,
                                                         std::size_t cap) {
    p.get().body().data = buf;
    p.get().body().size = cap;
    beast::get_lowest_layer(conn.stream).expires_after(pool_->timeouts().body);
    auto [ec, n] = co_await http::async_read(conn.stream, conn.buffer, p, use_tuple);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw system_error(ec == beast::error::timeout ? net::error::timed_out : ec, "reading upstream body");
    co_return cap - p.get().body().size;
}

net::awaitable<error_code> daemon_state::read_answer(fetched& f, bool head_request, bool inspect) {
    auto& lowest = beast::get_lowest_layer(f.conn->stream);
    auto sent_at = std::chrono::steady_clock::now();
    error_code ec;
    // Interim answers (100 Continue, 102, 103) are not the answer: read past them.
    for (int interim = 0; interim < 8; ++interim) {
        f.parser = std::make_unique<http::response_parser<http::buffer_body>>();
        f.parser->body_limit(boost::none);  // bodies are streamed, never held whole (except small HTML)
        f.parser->header_limit(header_limit);
        if (head_request) f.parser->skip(true);
        lowest.expires_after(pool_->timeouts().header);
        std::size_t n = 0;
        std::tie(ec, n) = co_await http::async_read_header(f.conn->stream, f.conn->buffer, *f.parser, use_tuple);
        auto status = f.parser->get().result_int();
        if (ec || status / 100 != 1 || status == 101) break;
    }
    if (!ec && f.parser->get().result_int() / 100 == 1)
        ec = f.parser->get().result_int() == 101 ? http::error::bad_status : http::error::unexpected_body;
    if (ec) co_return ec;
    metrics_.upstream_latency(std::chrono::duration<double>(std::chrono::steady_clock::now() - sent_at).count());
    auto& res = f.parser->get();
    if (inspect && !f.parser->is_done() && is_textual(res[http::field::content_type])) {
        auto len = f.parser->content_length();
        if (!len || *len <= inspect_limit) {
            std::array<char, 65536> buf;
            while (!f.parser->is_done() && f.body.size() < inspect_limit) {
                auto n = co_await read_body_some(*f.conn, *f.parser, buf.data(), buf.size());
                f.body.append(buf.data(), n);
            }
        }
    }
    co_return error_code{};
}

net::awaitable<daemon_state::fetched> daemon_state::fetch(const std::string& host, std::uint16_t port,
                                                          http::request<http::string_body>& req, bool inspect) {
    for (int attempt = 0;; ++attempt) {
        fetched f;
        f.conn = co_await pool_->acquire(host, port);
        bool retryable = f.conn->reused && attempt == 0;  // a pooled connection the peer may have closed
        beast::get_lowest_layer(f.conn->stream).expires_after(pool_->timeouts().write);
        auto [wec, wn] = co_await http::async_write(f.conn->stream, req, use_tuple);
        if (wec) {
            if (retryable) continue;
            throw system_error(wec == beast::error::timeout ? net::error::timed_out : wec, "writing upstream");
        }
        auto rec = co_await read_answer(f, req.method() == http::verb::head, inspect);
        if (rec) {
            if (retryable && (rec == http::error::end_of_stream || rec == net::error::eof ||
                              rec == net::error::connection_reset || rec == ssl::error::stream_truncated))
                continue;
            throw system_error(rec == beast::error::timeout ? net::error::timed_out : rec, "reading upstream header");
        }
        co_return f;
    }
}

net::awaitable<http::response<http::string_body>> daemon_state::exchange(const std::string& host, std::uint16_t port,
                                                                         http::request<http::string_body> req) {
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "courtroute/" COURTROUTE_VERSION);
    req.prepare_payload();
    auto f = co_await fetch(host, port, req, false);
    http::response<http::string_body> res;
    res.base() = f.parser->get().base();
    std::array<char, 16384> buf;
    while (!f.parser->is_done()) {
        auto n = co_await read_body_some(*f.conn, *f.parser, buf.data(), buf.size());
        res.body().append(buf.data(), n);
        if (res.body().size() > (1u << 20)) throw std::runtime_error("login answer larger than 1 MiB");
    }
    if (f.parser->keep_alive()) pool_->release(std::move(f.conn));
    co_return res;
}

// ---------------------------------------------------------------------------------------------
// sessions and logins

net::awaitable<auth::login_outcome> daemon_state::login_pacer(const snapshot& snap, const pacer_login& cred,
                                                              const std::string& client_code) {
    auto url = parse_url(snap.cfg.pacer_auth_url);
    std::optional<std::string> otp;
    if (!cred.totp_secret.empty()) {
        auto secret = auth::base32_decode(cred.totp_secret);
        if (!secret) co_return auth::login_outcome{auth::login_kind::bad_credentials, {}, {}, "the stored TOTP secret is not valid base32"};
        otp = auth::totp(*secret, unix_now());
    }
    http::request<http::string_body> req{http::verb::post, url->target, 11};
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json");
    req.body() = auth::pacer_login_body(cred.login, cred.password, client_code, otp);
    auto res = co_await exchange(url->host, url->port, std::move(req));
    co_return auth::parse_pacer_response(res.result_int(), res[http::field::content_type], res.body());
}

net::awaitable<auth::login_outcome> daemon_state::login_cmecf(const court& c, const ecf_login& cred) {
    http::request<http::string_body> req{http::verb::post, "/cgi-bin/login.pl", 11};
    req.set(http::field::content_type, "application/x-www-form-urlencoded");
    req.body() = auth::legacy_login_form(cred.login, cred.password);
    auto res = co_await exchange(c.host, 443, std::move(req));
    co_return auth::parse_legacy_login(res.result_int(), res.body());
}

net::awaitable<daemon_state::session_ticket> daemon_state::obtain_session(const snapshot& snap,
                                                                          const std::string& user, const court& c,
                                                                          route via, const std::string& client_code) {
    for (;;) {
        // Re-read the credential each time: the CLI may have replaced it while we waited.
        std::optional<pacer_login> pacer;
        std::optional<ecf_login> ecf;
        std::string key;
        sync_store_cache();
        const auto& stored = cached(user);
        if (via == route::pacer) {
            pacer = stored.pacer;
            if (!pacer) throw refusal_error({403, {}, "no PACER login is stored for " + user});
            key = pacer_session_key(user, pacer->revision, client_code);
        } else {
            if (auto it = stored.ecf.find(c.id); it != stored.ecf.end()) ecf = it->second;
            if (!ecf) throw refusal_error({403, {}, "no CM/ECF login is stored for " + user + " at " + c.id});
            key = ecf_session_key(user, c.id, ecf->revision);
        }
        auto now = std::chrono::steady_clock::now();
        auto got = sessions_.acquire(key, now);
        switch (got.what) {
        case auth::acquire_result::action::use:
            co_return session_ticket{key, got.token, false};
        case auth::acquire_result::action::wait: {
            auto& timer = login_waiters_[key];
            if (!timer) timer = std::make_shared<net::steady_timer>(io_);
            auto keep = timer;
            keep->expires_after(60s);
            co_await keep->async_wait(use_tuple);  // cancelled when the login completes
            continue;
        }
        case auth::acquire_result::action::refuse: {
            // Back-off after service errors, or a credential already refused (the store's mark
            // normally stops us earlier; this covers a mark another process has not seen yet).
            auto code = got.cause == auth::login_kind::mfa_required ? warning_code::mfa_required
                                                                     : warning_code::login_failed;
            throw refusal_error({502, {warning{code, user, via == route::pacer ? "" : c.id, got.reason}}, got.reason});
        }
        case auth::acquire_result::action::login:
            break;
        }
        // We are the one login for this key: everyone else waits on the timer.
        std::string kind = via == route::pacer ? "pacer" : "cmecf";
        auth::login_outcome outcome;
        try {
            // Not a ?: with two co_awaits: GCC 12 destroys the temporaries of such a
            // conditional twice (free(): invalid pointer).
            if (via == route::pacer) outcome = co_await login_pacer(snap, *pacer, client_code);
            else outcome = co_await login_cmecf(c, *ecf);
        } catch (const std::exception& e) {
            outcome = auth::login_outcome{auth::login_kind::service_error, {}, {}, auth::safe_text(e.what())};
        }
        sessions_.complete(key, got.attempt, outcome, std::chrono::steady_clock::now());
        if (auto it = login_waiters_.find(key); it != login_waiters_.end()) {
            it->second->cancel();
            login_waiters_.erase(it);
        }
        metrics_.login(kind, auth::to_string(outcome.kind));
        log::event("login", {{"user", user}, {"court", via == route::pacer ? "" : c.id}, {"kind", kind},
                             {"outcome", auth::to_string(outcome.kind)}});
        auto& rf = runtime_[user];
        switch (outcome.kind) {
        case auth::login_kind::success:
            if (via == route::pacer) rf.pacer_notice = outcome.notice;
            co_return session_ticket{key, outcome.token, true};
        case auth::login_kind::bad_credentials:
        case auth::login_kind::mfa_required: {
            bool mfa = outcome.kind == auth::login_kind::mfa_required && !(pacer && !pacer->totp_secret.empty());
            auto state = mfa ? credential_state::mfa_required : credential_state::failed;
            if (via == route::pacer) db_->mark_pacer(user, pacer->revision, state, outcome.detail);
            else db_->mark_ecf(user, c.id, ecf->revision, state, outcome.detail);
            user_cache_.clear();  // our own commit does not change data_version for our connection
            auto facts = facts_for(user);
            auto d = decide(c, facts, today(), snap.cfg.unlinked, unix_now());
            std::vector<warning> ws;
            for (auto& w : d.warnings)
                if (w.code == warning_code::login_failed || w.code == warning_code::mfa_required) ws.push_back(w);
            throw refusal_error({502, ws, mfa ? "PACER asks for a one-time passcode and no TOTP secret is stored"
                                              : "the login was refused: " + outcome.detail});
        }
        case auth::login_kind::service_error:
            throw refusal_error({502,
                                 {warning{warning_code::login_failed, user, via == route::pacer ? "" : c.id,
                                          "the login service is in trouble (" + outcome.detail +
                                              "); courtroute backs off and retries later"}},
                                 "the login service did not answer properly; retried later with back-off"});
        }
    }
}

void daemon_state::reconcile_sessions() {
    // Keys as pacer_session_key and ecf_session_key build them.
    for (auto& info : sessions_.snapshot(std::chrono::steady_clock::now())) {
        if (info.state == auth::session_state::logging_in) continue;
        std::vector<std::string> part;
        for (std::size_t pos = 0;;) {
            auto bar = info.key.find('|', pos);
            part.emplace_back(info.key.substr(pos, bar == std::string::npos ? std::string::npos : bar - pos));
            if (bar == std::string::npos) break;
            pos = bar + 1;
        }
        if (part.size() != 4) continue;
        const auto& stored = cached(part[1]);
        std::string host;  // empty: PACER
        bool current = false;
        if (part[0] == "pacer") {
            current = stored.pacer && std::to_string(stored.pacer->revision) == part[2];
        } else {
            auto it = stored.ecf.find(part[2]);
            current = it != stored.ecf.end() && std::to_string(it->second.revision) == part[3];
            const court* c = snap_->reg->find_id(part[2]);
            if (!c) continue;  // a court gone from the registry: nowhere to log out
            host = c->host;
        }
        if (current) continue;
        log::event("session_dropped", {{"user", part[1]}, {"kind", part[0]}, {"reason", "credential replaced or removed"}});
        if (auto token = sessions_.take_token(info.key)) spawn_logout(std::move(host), std::move(*token));
    }
}

void daemon_state::spawn_logout(std::string court_host, std::string token) {
    net::co_spawn(
        io_,
        [this, court_host = std::move(court_host), token = std::move(token)]() -> net::awaitable<void> {
            std::string host = court_host;
            std::uint16_t port = 443;
            http::request<http::string_body> req{http::verb::get, "/cgi-bin/login.pl?logout", 11};
            if (court_host.empty()) {
                auto url = parse_url(snap_->cfg.pacer_logout_url);
                if (!url) co_return;
                host = url->host;
                port = url->port;
                req.method(http::verb::post);
                req.target(url->target);
                req.set(http::field::content_type, "application/json");
                req.set(http::field::accept, "application/json");
                req.body() = auth::pacer_logout_body(token);
            } else {
                req.set(http::field::cookie, "PacerSession=" + token);
            }
            auto kind = court_host.empty() ? "pacer" : "cmecf";
            try {
                auto res = co_await exchange(host, port, std::move(req));
                log::event("logout", {{"kind", kind}, {"host", host}, {"status", std::to_string(res.result_int())}});
            } catch (const std::exception& e) {
                log::event("logout_failed", {{"kind", kind}, {"host", host}, {"error", e.what()}});
            }
        },
        log_failure("logout"));
}

// ---------------------------------------------------------------------------------------------
// status

void daemon_state::sync_store_cache() {
    auto version = db_->data_version();
    if (version == store_version_) return;
    store_version_ = version;
    user_cache_.clear();
    token_cache_.clear();
    reconcile_sessions();
}

const daemon_state::cached_user& daemon_state::cached(const std::string& user) {
    if (auto it = user_cache_.find(user); it != user_cache_.end()) return it->second;
    cached_user entry;
    entry.facts = load_user_facts(*db_, user);
    entry.pacer = db_->pacer(user);
    for (auto& e : db_->ecf_logins(user)) entry.ecf.emplace(e.court, std::move(e));
    return user_cache_.emplace(user, std::move(entry)).first->second;
}

user_facts daemon_state::facts_for(const std::string& user) {
    auto f = cached(user).facts;
    if (auto it = runtime_.find(user); it != runtime_.end()) f.runtime = it->second;
    if (f.pacer) {
        // The default client code's session is the one status reports.
        auto now = std::chrono::steady_clock::now();
        auto key = pacer_session_key(user, f.pacer->revision, f.pacer->client_code);
        if (auto info = sessions_.find(key, now); info && info->state == auth::session_state::live && info->expires)
            f.runtime.pacer_expires_at =
                unix_now() + std::chrono::duration_cast<std::chrono::seconds>(*info->expires - now).count();
    }
    return f;
}

std::vector<user_facts> daemon_state::all_user_facts() {
    std::vector<user_facts> out;
    for (auto& u : db_->users()) out.push_back(facts_for(u.name));
    return out;
}

std::string daemon_state::summary_line() {
    auto facts = all_user_facts();
    auto warnings = compute_warnings(*snap_->reg, facts, today(), unix_now());
    return std::to_string(snap_->reg->courts().size()) + " courts, " + std::to_string(facts.size()) + " users, " +
           std::to_string(warnings.size()) + " warnings";
}

std::string daemon_state::status_json() {
    sync_store_cache();
    report_input in;
    in.reg = snap_->reg.get();
    in.users = all_user_facts();
    in.today = today();
    in.now_unix = unix_now();
    in.uptime_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
    return boost::json::serialize(status_report(in)) + "\n";
}

} // namespace courtroute::proxy
