/// The menu checks that tell a linked account from an unlinked one (auth::classify_menus,
/// shows_filing_menus, shows_limited_menu) on any page, for every court type.
/// Properties: never throws; classify_menus agrees with the two checks it combines; an unknown
/// court type shows neither menu and a national court ("other") never the limited one; a
/// limited menu never holds a filing label of any court type; the verdicts do not depend on
/// letter case.
#include "auth/detect.hpp"
#include "fuzz_support.hpp"

using namespace courtroute;
using courtroute::fuzz::check;
using courtroute::auth::menu_state;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto body = fuzz::as_text(data, size);
    auto upper = fuzz::to_upper(body);
    check(!auth::shows_filing_menus("unknown", body) && !auth::shows_limited_menu("unknown", body),
          "menus inferred at a court type whose menus are unknown");
    check(!auth::shows_limited_menu("other", body), "limited menu inferred at a national court");
    for (std::string_view type : {"district", "bankruptcy", "appellate", "other"}) {
        bool limited = auth::shows_limited_menu(type, body);
        check(limited == auth::shows_limited_menu(type, upper), "shows_limited_menu depends on letter case");
        bool filing = auth::shows_filing_menus(type, body);
        check(filing == auth::shows_filing_menus(type, upper), "shows_filing_menus depends on letter case");
        for (std::string_view other : {"district", "bankruptcy", "appellate"})
            if (limited) check(!auth::shows_filing_menus(other, body), "a limited menu holds a filing label");
        auto state = auth::classify_menus(type, body);
        auto expected = filing ? menu_state::filing : limited ? menu_state::limited : menu_state::unknown;
        check(state == expected, "classify_menus disagrees with the checks it combines");
    }
    return 0;
}
