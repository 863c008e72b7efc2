#include <gtest/gtest.h>

#include "auth/session_table.hpp"

using namespace courtroute::auth;
using namespace std::chrono_literals;
using action = acquire_result::action;

namespace {

const session_table::time_point t0{std::chrono::hours(1000)};

login_outcome ok(std::string token) {
    login_outcome o;
    o.kind = login_kind::success;
    o.token = std::move(token);
    return o;
}

login_outcome fail(login_kind k) {
    login_outcome o;
    o.kind = k;
    o.detail = "x";
    return o;
}

session_key P(std::string user, std::int64_t revision = 1, std::string code = "") {
    return session_key::pacer(std::move(user), revision, std::move(code));
}
session_key E(std::string user, std::string court, std::int64_t revision) {
    return session_key::cmecf(std::move(user), std::move(court), revision);
}

/// Logs `key` in at `now` with `token`; asserts the table asked for the login.
void login(session_table& t, const session_key& key, const std::string& token, session_table::time_point now) {
    auto r = t.acquire(key, now);
    ASSERT_EQ(r.what, action::login);
    ASSERT_TRUE(t.complete(key, r.attempt, ok(token), now));
}

} // namespace

TEST(SessionKey, FieldsNeverRunTogether) {
    // Under the old "pacer|user|rev|code" strings these two collided; typed keys cannot.
    EXPECT_NE(P("a|1", 2, ""), P("a", 1, "2"));
    EXPECT_NE(P("alice", 1, "x;y"), P("alice", 1, "x"));
    EXPECT_NE(session_key_hash{}(P("a", 1, "b")), session_key_hash{}(P("a", 1, "c")));
    EXPECT_EQ(session_key_hash{}(E("a", "azb", 3)), session_key_hash{}(E("a", "azb", 3)));
    EXPECT_NE(P("alice").credential, E("alice", "azb", 1).credential);
}

TEST(SessionTable, SingleFlightThenUse) {
    session_table t;
    auto first = t.acquire(P("alice"), t0);
    EXPECT_EQ(first.what, action::login);
    auto second = t.acquire(P("alice"), t0 + 1s);
    EXPECT_EQ(second.what, action::wait);
    EXPECT_TRUE(second.token.empty());
    // Another credential is independent.
    EXPECT_EQ(t.acquire(P("bob"), t0).what, action::login);

    ASSERT_TRUE(t.complete(P("alice"), first.attempt, ok("tokA"), t0 + 2s));
    auto third = t.acquire(P("alice"), t0 + 3s);
    EXPECT_EQ(third.what, action::use);
    EXPECT_EQ(third.token, "tokA");
    EXPECT_EQ(third.expires, t0 + 3s + 30min);
    auto info = t.find(P("alice"), t0 + 3s);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->state, session_state::live);
    EXPECT_EQ(info->obtained, t0 + 2s);
}

TEST(SessionTable, OneLoginPerCredentialAcrossClientCodes) {
    session_table t;
    auto a = t.acquire(P("alice", 7, "A"), t0);
    ASSERT_EQ(a.what, action::login);
    // Another client code of the same credential waits: one password on the wire at a time.
    EXPECT_EQ(t.acquire(P("alice", 7, "B"), t0).what, action::wait);
    // A rejection marks the credential: the other code never sends the bad password.
    ASSERT_TRUE(t.complete(P("alice", 7, "A"), a.attempt, fail(login_kind::bad_credentials), t0 + 1s));
    auto b = t.acquire(P("alice", 7, "B"), t0 + 2s);
    EXPECT_EQ(b.what, action::refuse);
    EXPECT_EQ(b.cause, login_kind::bad_credentials);
    EXPECT_EQ(t.find(P("alice", 7, "B"), t0 + 2s)->state, session_state::failed);

    // With a good password the codes log in one after the other and keep separate tokens.
    auto c = t.acquire(P("alice", 8, "A"), t0);
    ASSERT_EQ(c.what, action::login);
    ASSERT_TRUE(t.complete(P("alice", 8, "A"), c.attempt, ok("tokA"), t0));
    auto d = t.acquire(P("alice", 8, "B"), t0);
    ASSERT_EQ(d.what, action::login);
    ASSERT_TRUE(t.complete(P("alice", 8, "B"), d.attempt, ok("tokB"), t0));
    EXPECT_EQ(t.acquire(P("alice", 8, "A"), t0).token, "tokA");
    EXPECT_EQ(t.acquire(P("alice", 8, "B"), t0).token, "tokB");
    // A back-off belongs to the credential too.
    auto e = t.acquire(P("bob", 1, "A"), t0);
    ASSERT_TRUE(t.complete(P("bob", 1, "A"), e.attempt, fail(login_kind::service_error), t0));
    EXPECT_EQ(t.acquire(P("bob", 1, "B"), t0).what, action::refuse);
}

TEST(SessionTable, IdleExpiryAndTouch) {
    session_table_options o;
    o.idle_timeout = 30min;
    session_table t(o);
    const auto k = P("k");
    login(t, k, "tok", t0);
    t.touch(k, t0 + 29min);
    EXPECT_EQ(t.acquire(k, t0 + 58min).what, action::use); // idle timer restarted by touch, then by use
    EXPECT_EQ(t.acquire(k, t0 + 87min).what, action::use);
    EXPECT_EQ(t.find(k, t0 + 87min + 30min)->state, session_state::expired);
    auto r = t.acquire(k, t0 + 87min + 30min);
    EXPECT_EQ(r.what, action::login);
    EXPECT_EQ(r.reason, "the session expired");
}

TEST(SessionTable, MaxLifetimeAndServerMaxAge) {
    session_table_options o;
    o.max_lifetime = 8h;
    o.idle_timeout = 1h;
    session_table t(o);
    const auto k = P("k");
    login(t, k, "tok", t0);
    for (auto m = 50min; m < 8h; m += 50min) EXPECT_EQ(t.acquire(k, t0 + m).what, action::use) << m.count();
    EXPECT_EQ(t.acquire(k, t0 + 8h).what, action::login);

    // A shorter max_age from the caller wins; a longer one is capped.
    auto r = t.acquire(P("m"), t0);
    ASSERT_TRUE(t.complete(P("m"), r.attempt, ok("t"), t0, 10min));
    EXPECT_EQ(t.acquire(P("m"), t0 + 9min).what, action::use);
    EXPECT_EQ(t.acquire(P("m"), t0 + 10min).what, action::login);
    r = t.acquire(P("n"), t0);
    ASSERT_TRUE(t.complete(P("n"), r.attempt, ok("t"), t0, 100h));
    EXPECT_EQ(t.find(P("n"), t0)->expires, t0 + 1h); // idle expiry comes first
}

TEST(SessionTable, BackoffGrowsAndCaps) {
    session_table t; // 1 s initial, 5 min cap
    const auto key = P("alice", 1, "C");
    auto now = t0;
    const std::chrono::seconds expected[] = {1s, 2s, 4s, 8s, 16s, 32s, 64s, 128s, 256s, 300s, 300s, 300s};
    for (auto delay : expected) {
        auto r = t.acquire(key, now);
        ASSERT_EQ(r.what, action::login);
        ASSERT_TRUE(t.complete(key, r.attempt, fail(login_kind::service_error), now));
        auto refused = t.acquire(key, now + delay - 1ms);
        EXPECT_EQ(refused.what, action::refuse) << delay.count();
        EXPECT_EQ(refused.cause, login_kind::service_error);
        EXPECT_EQ(refused.retry_at, now + delay);
        EXPECT_FALSE(refused.reason.empty());
        EXPECT_EQ(t.find(key, now)->state, session_state::backoff);
        now += delay;
    }
    // Success resets the backoff.
    login(t, key, "tok", now);
    auto r = t.acquire(key, now + 9h); // expired
    ASSERT_EQ(r.what, action::login);
    ASSERT_TRUE(t.complete(key, r.attempt, fail(login_kind::service_error), now + 9h));
    EXPECT_EQ(t.acquire(key, now + 9h + 1s).what, action::login);
}

TEST(SessionTable, FailedIsPermanent) {
    session_table t;
    auto r = t.acquire(E("alice", "azb", 3), t0);
    ASSERT_TRUE(t.complete(E("alice", "azb", 3), r.attempt, fail(login_kind::bad_credentials), t0));
    for (auto later : {t0, t0 + 1h, t0 + 1000h}) {
        auto again = t.acquire(E("alice", "azb", 3), later);
        EXPECT_EQ(again.what, action::refuse);
        EXPECT_EQ(again.cause, login_kind::bad_credentials);
    }
    EXPECT_EQ(t.prune(t0 + 1000h), 1u);  // the empty session goes; the failed credential stays
    EXPECT_EQ(t.acquire(E("alice", "azb", 3), t0).what, action::refuse);
    EXPECT_EQ(t.find(E("alice", "azb", 3), t0)->state, session_state::failed);
    // The replaced credential has a new revision, hence a new key.
    EXPECT_EQ(t.acquire(E("alice", "azb", 4), t0).what, action::login);

    r = t.acquire(P("bob"), t0);
    ASSERT_TRUE(t.complete(P("bob"), r.attempt, fail(login_kind::mfa_required), t0));
    auto m = t.acquire(P("bob"), t0 + 1h);
    EXPECT_EQ(m.what, action::refuse);
    EXPECT_EQ(m.cause, login_kind::mfa_required);
    EXPECT_EQ(t.find(P("bob"), t0)->state, session_state::mfa_required);
}

TEST(SessionTable, ReloginsAfterNotLoggedInAreBudgetedPerCredential) {
    session_table t;  // relogin_interval: one minute
    const auto a = P("alice", 1, "a"), b = P("alice", 1, "b");
    login(t, a, "t1", t0);
    login(t, b, "t2", t0 + 1s);  // another client code: not a re-login
    EXPECT_TRUE(t.relogin_allowed(a, "t1", t0 + 2s));
    ASSERT_TRUE(t.invalidate(a, "t1", t0 + 2s));
    // Others that sent the now-void token retry freely: the new login is one for all of them.
    EXPECT_TRUE(t.relogin_allowed(a, "t1", t0 + 2s));
    login(t, a, "t3", t0 + 3s);
    EXPECT_TRUE(t.relogin_allowed(a, "t1", t0 + 4s));
    // The new session called "not logged in" too: the budget is spent for the credential,
    // whichever client code's page looked logged out.
    EXPECT_FALSE(t.relogin_allowed(a, "t3", t0 + 4s));
    EXPECT_FALSE(t.relogin_allowed(b, "t2", t0 + 61s));
    EXPECT_TRUE(t.relogin_allowed(b, "t2", t0 + 62s));
    login(t, P("bob"), "tb", t0);
    EXPECT_TRUE(t.relogin_allowed(P("bob"), "tb", t0 + 3s));
    // Pruning keeps the budget while it runs.
    t.prune(t0 + 30s);
    EXPECT_FALSE(t.relogin_allowed(a, "t3", t0 + 31s));
    // A session a court accepted, then refused, has expired: that re-login is never held back.
    t.prove(a, "t3");
    EXPECT_TRUE(t.relogin_allowed(a, "t3", t0 + 32s));
    t.prove(b, "stale-token");  // not the session's token: no effect
    EXPECT_FALSE(t.relogin_allowed(b, "t2", t0 + 33s));
    // A new login starts unproven.
    ASSERT_TRUE(t.invalidate(a, "t3", t0 + 34s));
    login(t, a, "t4", t0 + 35s);
    EXPECT_FALSE(t.relogin_allowed(a, "t4", t0 + 36s));
}

TEST(SessionTable, TwoUnclearLegacyAnswersMarkTheCredentialFailed) {
    session_table t;
    auto unclear = [] {
        login_outcome o;
        o.kind = login_kind::service_error;
        o.detail = "the court's login answered HTTP 500";
        o.unclear = true;
        return o;
    };
    auto k = E("alice", "nvb", 1);
    auto r = t.acquire(k, t0);
    ASSERT_EQ(r.what, action::login);
    ASSERT_TRUE(t.complete(k, r.attempt, unclear(), t0));
    EXPECT_FALSE(t.verdict(k.credential));
    r = t.acquire(k, t0 + 2s);  // after the 1 s back-off
    ASSERT_EQ(r.what, action::login);
    ASSERT_TRUE(t.complete(k, r.attempt, unclear(), t0 + 2s));
    EXPECT_EQ(t.verdict(k.credential), login_kind::bad_credentials);
    auto refused = t.acquire(k, t0 + 1h);
    EXPECT_EQ(refused.what, action::refuse);
    EXPECT_EQ(refused.cause, login_kind::bad_credentials);
    EXPECT_NE(t.find(k, t0 + 1h)->detail.find("unclearly 2 times"), std::string::npos);
    // A network fault is not unclear; nor does PACER count (its answers are JSON, or faults).
    auto k2 = E("bob", "nvb", 1);
    for (int i = 0; i < 5; ++i) {
        auto x = t.acquire(k2, t0 + std::chrono::minutes(10 * i));
        ASSERT_EQ(x.what, action::login);
        ASSERT_TRUE(t.complete(k2, x.attempt, fail(login_kind::service_error), t0 + std::chrono::minutes(10 * i)));
    }
    EXPECT_FALSE(t.verdict(k2.credential));
    auto p = P("carol");
    for (int i = 0; i < 3; ++i) {
        auto x = t.acquire(p, t0 + std::chrono::minutes(10 * i));
        ASSERT_EQ(x.what, action::login);
        ASSERT_TRUE(t.complete(p, x.attempt, unclear(), t0 + std::chrono::minutes(10 * i)));
    }
    EXPECT_FALSE(t.verdict(p.credential));
    // A success in between starts the count again.
    auto k3 = E("dave", "nvb", 1);
    auto x = t.acquire(k3, t0);
    ASSERT_TRUE(t.complete(k3, x.attempt, unclear(), t0));
    login(t, k3, "tok", t0 + 2s);
    ASSERT_TRUE(t.invalidate(k3, "tok", t0 + 3s));
    x = t.acquire(k3, t0 + 5min);
    ASSERT_EQ(x.what, action::login);
    ASSERT_TRUE(t.complete(k3, x.attempt, unclear(), t0 + 5min));
    EXPECT_FALSE(t.verdict(k3.credential));
}

TEST(SessionTable, InvalidateOnlyTheCurrentToken) {
    session_table t;
    const auto k = P("k");
    login(t, k, "old", t0);
    EXPECT_TRUE(t.invalidate(k, "old", t0 + 1s));
    // A second request that saw the same stale token must not drop the new session.
    auto r = t.acquire(k, t0 + 2s);
    ASSERT_EQ(r.what, action::login);
    EXPECT_FALSE(t.invalidate(k, "old", t0 + 2s));
    ASSERT_TRUE(t.complete(k, r.attempt, ok("new"), t0 + 3s));
    EXPECT_FALSE(t.invalidate(k, "old", t0 + 4s));
    EXPECT_FALSE(t.invalidate(k, "", t0 + 4s));
    EXPECT_FALSE(t.invalidate(P("other"), "new", t0 + 4s));
    auto u = t.acquire(k, t0 + 5s);
    EXPECT_EQ(u.what, action::use);
    EXPECT_EQ(u.token, "new");
}

TEST(SessionTable, LostLoginTimesOutAndStaleCompletionIsIgnored) {
    session_table_options o;
    o.login_timeout = 2min;
    session_table t(o);
    const auto k = P("k");
    auto a = t.acquire(k, t0);
    ASSERT_EQ(a.what, action::login);
    EXPECT_EQ(t.acquire(k, t0 + 119s).what, action::wait);
    auto b = t.acquire(k, t0 + 2min);
    ASSERT_EQ(b.what, action::login);
    EXPECT_NE(a.attempt, b.attempt);
    // The lost attempt finally answers: ignored.
    EXPECT_FALSE(t.complete(k, a.attempt, fail(login_kind::bad_credentials), t0 + 3min));
    EXPECT_EQ(t.acquire(k, t0 + 3min).what, action::wait);
    EXPECT_TRUE(t.complete(k, b.attempt, ok("tok"), t0 + 3min));
    EXPECT_FALSE(t.complete(k, b.attempt, ok("again"), t0 + 3min)); // no double completion
    EXPECT_EQ(t.acquire(k, t0 + 4min).token, "tok");
}

TEST(SessionTable, AbandonAndEmptyTokenSuccess) {
    session_table t;
    const auto k = P("k");
    auto a = t.acquire(k, t0);
    EXPECT_FALSE(t.abandon(k, a.attempt + 1));
    EXPECT_TRUE(t.abandon(k, a.attempt));
    auto b = t.acquire(k, t0); // no backoff after a cancellation
    ASSERT_EQ(b.what, action::login);
    // A "success" without a token is a service error, not a session.
    ASSERT_TRUE(t.complete(k, b.attempt, ok(""), t0));
    EXPECT_EQ(t.acquire(k, t0).what, action::refuse);
}

TEST(SessionTable, DropSnapshotPrune) {
    session_table t;
    login(t, P("alice", 1, "A"), "t1", t0);
    login(t, E("alice", "azb", 1), "t2", t0);
    login(t, P("alice2", 1, "A"), "t3", t0);
    auto pending = t.acquire(P("bob"), t0);
    ASSERT_EQ(pending.what, action::login);

    auto snap = t.snapshot(t0 + 1min);
    ASSERT_EQ(snap.size(), 4u);
    EXPECT_EQ(snap[0].key, P("alice", 1, "A")); // sorted by key
    EXPECT_EQ(snap[0].state, session_state::live);
    EXPECT_EQ(snap[0].obtained, t0);
    EXPECT_EQ(snap[0].expires, t0 + 30min);
    EXPECT_EQ(snap[3].key, E("alice", "azb", 1));
    EXPECT_EQ(snap[2].key, P("bob"));
    EXPECT_EQ(snap[2].state, session_state::logging_in);

    // alice's PACER credential was replaced: its session token comes back to be logged out.
    auto gone = t.drop([](const credential_id& c) { return c.user == "alice" && c.kind == session_kind::pacer; });
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0].key, P("alice", 1, "A"));
    EXPECT_EQ(gone[0].token, "t1");
    EXPECT_FALSE(t.find(P("alice", 1, "A"), t0));
    EXPECT_TRUE(t.find(P("alice2", 1, "A"), t0));
    EXPECT_TRUE(t.find(E("alice", "azb", 1), t0));
    // A login in flight is left to its driver.
    EXPECT_TRUE(t.drop([](const credential_id& c) { return c.user == "bob"; }).empty());
    EXPECT_TRUE(t.complete(P("bob"), pending.attempt, ok("tb"), t0));
    EXPECT_EQ(t.drop([](const credential_id& c) { return c.user == "bob"; }).size(), 1u);
    EXPECT_TRUE(t.drop([](const credential_id&) { return false; }).empty());

    EXPECT_EQ(t.prune(t0 + 1min), 0u);
    EXPECT_EQ(t.prune(t0 + 31min), 4u); // both sessions idle-expired, then their credentials
    EXPECT_TRUE(t.snapshot(t0 + 31min).empty());
}
