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

/// Logs `key` in at `now` with `token`; asserts the table asked for the login.
void login(session_table& t, const std::string& key, const std::string& token, session_table::time_point now) {
    auto r = t.acquire(key, now);
    ASSERT_EQ(r.what, action::login);
    ASSERT_TRUE(t.complete(key, r.attempt, ok(token), now));
}

} // namespace

TEST(SessionTable, SingleFlightThenUse) {
    session_table t;
    auto first = t.acquire("pacer|alice||1", t0);
    EXPECT_EQ(first.what, action::login);
    auto second = t.acquire("pacer|alice||1", t0 + 1s);
    EXPECT_EQ(second.what, action::wait);
    EXPECT_TRUE(second.token.empty());
    // Another key is independent.
    EXPECT_EQ(t.acquire("pacer|bob||1", t0).what, action::login);

    ASSERT_TRUE(t.complete("pacer|alice||1", first.attempt, ok("tokA"), t0 + 2s));
    auto third = t.acquire("pacer|alice||1", t0 + 3s);
    EXPECT_EQ(third.what, action::use);
    EXPECT_EQ(third.token, "tokA");
    auto info = t.find("pacer|alice||1", t0 + 3s);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->state, session_state::live);
    EXPECT_EQ(info->obtained, t0 + 2s);
}

TEST(SessionTable, IdleExpiryAndTouch) {
    session_table_options o;
    o.idle_timeout = 30min;
    session_table t(o);
    login(t, "k", "tok", t0);
    t.touch("k", t0 + 29min);
    EXPECT_EQ(t.acquire("k", t0 + 58min).what, action::use); // idle timer restarted by touch, then by use
    EXPECT_EQ(t.acquire("k", t0 + 87min).what, action::use);
    EXPECT_EQ(t.find("k", t0 + 87min + 30min)->state, session_state::expired);
    auto r = t.acquire("k", t0 + 87min + 30min);
    EXPECT_EQ(r.what, action::login);
    EXPECT_EQ(r.reason, "the session expired");
}

TEST(SessionTable, MaxLifetimeAndServerMaxAge) {
    session_table_options o;
    o.max_lifetime = 8h;
    o.idle_timeout = 1h;
    session_table t(o);
    login(t, "k", "tok", t0);
    for (auto m = 50min; m < 8h; m += 50min) EXPECT_EQ(t.acquire("k", t0 + m).what, action::use) << m.count();
    EXPECT_EQ(t.acquire("k", t0 + 8h).what, action::login);

    // A shorter max_age from the caller wins; a longer one is capped.
    auto r = t.acquire("m", t0);
    ASSERT_TRUE(t.complete("m", r.attempt, ok("t"), t0, 10min));
    EXPECT_EQ(t.acquire("m", t0 + 9min).what, action::use);
    EXPECT_EQ(t.acquire("m", t0 + 10min).what, action::login);
    r = t.acquire("n", t0);
    ASSERT_TRUE(t.complete("n", r.attempt, ok("t"), t0, 100h));
    EXPECT_EQ(t.find("n", t0)->expires, t0 + 1h); // idle expiry comes first
}

TEST(SessionTable, BackoffGrowsAndCaps) {
    session_table t; // 1 s initial, 5 min cap
    const std::string key = "pacer|alice|C|1";
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
    auto r = t.acquire("ecf|alice|azb|3", t0);
    ASSERT_TRUE(t.complete("ecf|alice|azb|3", r.attempt, fail(login_kind::bad_credentials), t0));
    for (auto later : {t0, t0 + 1h, t0 + 1000h}) {
        auto again = t.acquire("ecf|alice|azb|3", later);
        EXPECT_EQ(again.what, action::refuse);
        EXPECT_EQ(again.cause, login_kind::bad_credentials);
    }
    EXPECT_EQ(t.prune(t0 + 1000h), 0u); // failed keys survive pruning
    EXPECT_EQ(t.find("ecf|alice|azb|3", t0)->state, session_state::failed);
    // The replaced credential has a new revision, hence a new key.
    EXPECT_EQ(t.acquire("ecf|alice|azb|4", t0).what, action::login);

    r = t.acquire("pacer|bob||1", t0);
    ASSERT_TRUE(t.complete("pacer|bob||1", r.attempt, fail(login_kind::mfa_required), t0));
    auto m = t.acquire("pacer|bob||1", t0 + 1h);
    EXPECT_EQ(m.what, action::refuse);
    EXPECT_EQ(m.cause, login_kind::mfa_required);
    EXPECT_EQ(t.find("pacer|bob||1", t0)->state, session_state::mfa_required);
}

TEST(SessionTable, InvalidateOnlyTheCurrentToken) {
    session_table t;
    login(t, "k", "old", t0);
    EXPECT_TRUE(t.invalidate("k", "old", t0 + 1s));
    // A second request that saw the same stale token must not drop the new session.
    auto r = t.acquire("k", t0 + 2s);
    ASSERT_EQ(r.what, action::login);
    EXPECT_FALSE(t.invalidate("k", "old", t0 + 2s));
    ASSERT_TRUE(t.complete("k", r.attempt, ok("new"), t0 + 3s));
    EXPECT_FALSE(t.invalidate("k", "old", t0 + 4s));
    EXPECT_FALSE(t.invalidate("k", "", t0 + 4s));
    EXPECT_FALSE(t.invalidate("other", "new", t0 + 4s));
    auto u = t.acquire("k", t0 + 5s);
    EXPECT_EQ(u.what, action::use);
    EXPECT_EQ(u.token, "new");
}

TEST(SessionTable, LostLoginTimesOutAndStaleCompletionIsIgnored) {
    session_table_options o;
    o.login_timeout = 2min;
    session_table t(o);
    auto a = t.acquire("k", t0);
    ASSERT_EQ(a.what, action::login);
    EXPECT_EQ(t.acquire("k", t0 + 119s).what, action::wait);
    auto b = t.acquire("k", t0 + 2min);
    ASSERT_EQ(b.what, action::login);
    EXPECT_NE(a.attempt, b.attempt);
    // The lost attempt finally answers: ignored.
    EXPECT_FALSE(t.complete("k", a.attempt, fail(login_kind::bad_credentials), t0 + 3min));
    EXPECT_EQ(t.acquire("k", t0 + 3min).what, action::wait);
    EXPECT_TRUE(t.complete("k", b.attempt, ok("tok"), t0 + 3min));
    EXPECT_FALSE(t.complete("k", b.attempt, ok("again"), t0 + 3min)); // no double completion
    EXPECT_EQ(t.acquire("k", t0 + 4min).token, "tok");
}

TEST(SessionTable, AbandonAndEmptyTokenSuccess) {
    session_table t;
    auto a = t.acquire("k", t0);
    EXPECT_FALSE(t.abandon("k", a.attempt + 1));
    EXPECT_TRUE(t.abandon("k", a.attempt));
    auto b = t.acquire("k", t0); // no backoff after a cancellation
    ASSERT_EQ(b.what, action::login);
    // A "success" without a token is a service error, not a session.
    ASSERT_TRUE(t.complete("k", b.attempt, ok(""), t0));
    EXPECT_EQ(t.acquire("k", t0).what, action::refuse);
}

TEST(SessionTable, EraseSnapshotPrune) {
    session_table t;
    login(t, "pacer|alice|A|1", "t1", t0);
    login(t, "ecf|alice|azb|1", "t2", t0);
    login(t, "pacer|alice2|A|1", "t3", t0);
    auto pending = t.acquire("pacer|bob||1", t0);
    ASSERT_EQ(pending.what, action::login);

    auto snap = t.snapshot(t0 + 1min);
    ASSERT_EQ(snap.size(), 4u);
    EXPECT_EQ(snap[0].key, "ecf|alice|azb|1"); // sorted by key
    EXPECT_EQ(snap[0].state, session_state::live);
    EXPECT_EQ(snap[0].obtained, t0);
    EXPECT_EQ(snap[0].expires, t0 + 30min);
    EXPECT_EQ(snap[3].key, "pacer|bob||1");
    EXPECT_EQ(snap[3].state, session_state::logging_in);

    EXPECT_EQ(t.erase_prefix("pacer|alice|"), 1u); // not alice2
    EXPECT_FALSE(t.find("pacer|alice|A|1", t0));
    EXPECT_TRUE(t.find("pacer|alice2|A|1", t0));
    EXPECT_EQ(t.erase_prefix("pacer|bob|"), 1u);
    EXPECT_FALSE(t.complete("pacer|bob||1", pending.attempt, ok("late"), t0)); // erased: ignored
    EXPECT_FALSE(t.find("pacer|bob||1", t0));

    EXPECT_EQ(t.prune(t0 + 1min), 0u);
    EXPECT_EQ(t.prune(t0 + 31min), 2u); // both idle-expired
    EXPECT_TRUE(t.snapshot(t0 + 31min).empty());
}

TEST(SessionTable, TakeTokenHandsBackALiveTokenOnceAndSparesLoginsInFlight) {
    session_table t;
    login(t, "pacer|alice|3|", "tok-live", t0);
    auto token = t.take_token("pacer|alice|3|");
    ASSERT_TRUE(token);
    EXPECT_EQ(*token, "tok-live");
    EXPECT_FALSE(t.find("pacer|alice|3|", t0));
    EXPECT_FALSE(t.take_token("pacer|alice|3|"));  // gone: nothing twice

    auto pending = t.acquire("ecf|alice|azb|4", t0);
    ASSERT_EQ(pending.what, action::login);
    EXPECT_FALSE(t.take_token("ecf|alice|azb|4"));  // its driver still owns it
    EXPECT_TRUE(t.complete("ecf|alice|azb|4", pending.attempt, ok("tok-ecf"), t0));
}
