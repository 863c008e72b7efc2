#include <gtest/gtest.h>

#include "test_support.hpp"

#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "registry/registry.hpp"

using namespace courtroute;
namespace fs = std::filesystem;
using std::chrono::June, std::chrono::January, std::chrono::December;
using namespace std::chrono_literals;

namespace {

using test::all_errors;
using test::temp_dir;

/// A valid drop-in for a court `id` at `ecf.<id>.uscourts.gov`.
std::string court_file(const std::string& id, const std::string& extra = "") {
    return "id = \"" + id + "\"\n"
           "name = \"Court " + id + "\"\n"
           "type = \"district\"\n"
           "ecf_url = \"https://ecf." + id + ".uscourts.gov/\"\n"
           "system = \"legacy\"\n" + extra;
}

/// The five-line template (id zzz) with the line starting with `key` replaced by `line`
/// (removed when `line` is empty); `append` goes at the end.
std::string variant(const std::string& key, const std::string& line, const std::string& append = "") {
    std::istringstream in(court_file("zzz"));
    std::string out, l;
    while (std::getline(in, l)) {
        if (!key.empty() && l.rfind(key + " =", 0) == 0) {
            if (!line.empty()) out += line + "\n";
        } else {
            out += l + "\n";
        }
    }
    return out + append;
}

const fs::path source_dir = COURTROUTE_SOURCE_DIR;

std::vector<std::map<std::string, std::string>> read_tsv(const fs::path& file) {
    std::ifstream in(file);
    std::string line;
    std::vector<std::string> header;
    std::vector<std::map<std::string, std::string>> rows;
    auto split = [](const std::string& s) {
        std::vector<std::string> out;
        std::size_t start = 0;
        while (true) {
            auto tab = s.find('\t', start);
            out.push_back(s.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
            if (tab == std::string::npos) break;
            start = tab + 1;
        }
        return out;
    };
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto fields = split(line);
        if (header.empty()) {
            header = fields;
            continue;
        }
        std::map<std::string, std::string> row;
        for (std::size_t i = 0; i < header.size() && i < fields.size(); ++i) row[header[i]] = fields[i];
        rows.push_back(row);
    }
    return rows;
}

} // namespace

TEST(Registry, ShippedCourtsLoad) {
    auto reg = registry::load({source_dir / "courts.d"});
    EXPECT_TRUE(reg->errors().empty()) << all_errors(reg->errors());
    EXPECT_EQ(reg->courts().size(), 205u);
    for (std::size_t i = 1; i < reg->courts().size(); ++i)
        EXPECT_LT(reg->courts()[i - 1].id, reg->courts()[i].id) << "courts() is sorted by id";

    const auto* ohndad = reg->find_id("ohndad");
    ASSERT_NE(ohndad, nullptr);
    EXPECT_EQ(ohndad->host, "ecf.ohndad.ohnd.uscourts.gov");
    EXPECT_EQ(ohndad->ecf_url, "https://ecf.ohndad.ohnd.uscourts.gov");
    EXPECT_EQ(reg->find_host("ecf.ohndad.ohnd.uscourts.gov"), ohndad);
    EXPECT_EQ(reg->find_host("ecf.ohndad.uscourts.gov"), nullptr);

    for (const char* id : {"ca2", "ca9"}) {
        const auto* c = reg->find_id(id);
        ASSERT_NE(c, nullptr) << id;
        std::string n(id);
        EXPECT_EQ(c->extra_hosts,
                  (std::vector<std::string>{n + "-showdoc.azurewebsites.us", n + "-showdocservices.azurewebsites.us"}));
        EXPECT_EQ(reg->find_host(n + "-showdoc.azurewebsites.us"), c);
        EXPECT_EQ(reg->find_host(n + "-showdocservices.azurewebsites.us"), c);
        EXPECT_EQ(reg->find_host("ecf." + n + ".uscourts.gov"), c);
        EXPECT_EQ(c->type, court_type::appellate);
    }
    EXPECT_EQ(reg->find_host("ca1-showdoc.azurewebsites.us"), nullptr);
    EXPECT_TRUE(reg->find_id("azb")->extra_hosts.empty());
}

TEST(Registry, ShippedCourtsMatchTheData) {
    auto rows = read_tsv("/work/shared/data/courts.tsv");
    if (rows.empty()) GTEST_SKIP() << "shared/data/courts.tsv not available";
    auto reg = registry::load({source_dir / "courts.d"});
    ASSERT_EQ(reg->courts().size(), rows.size());
    for (const auto& row : rows) {
        const auto* c = reg->find_id(row.at("id"));
        ASSERT_NE(c, nullptr) << row.at("id");
        EXPECT_EQ(c->name, row.at("name"));
        EXPECT_EQ(to_string(c->type), row.at("type"));
        std::string url = row.at("ecf_url");
        if (url.ends_with("/")) url.pop_back();
        EXPECT_EQ(c->ecf_url, url);
        EXPECT_EQ(to_string(c->system), row.at("system"));
        EXPECT_EQ(c->source, row.at("source"));
        if (row.at("nextgen_since").empty()) EXPECT_FALSE(c->nextgen_since) << c->id;
        else {
            ASSERT_TRUE(c->nextgen_since) << c->id;
            EXPECT_EQ(to_string(*c->nextgen_since), row.at("nextgen_since"));
        }
        EXPECT_EQ(c->file, source_dir / "courts.d" / (c->id + ".toml"));
    }
}

TEST(Registry, HostLookupIsCaseInsensitiveAndExact) {
    auto reg = registry::load({source_dir / "courts.d"});
    const auto* azb = reg->find_id("azb");
    ASSERT_NE(azb, nullptr);
    EXPECT_EQ(reg->find_host("ecf.azb.uscourts.gov"), azb);
    EXPECT_EQ(reg->find_host("ECF.AZB.USCOURTS.GOV"), azb);
    EXPECT_EQ(reg->find_host("Ecf.Azb.UsCourts.Gov."), azb);
    EXPECT_EQ(reg->find_host("ecf.azb.uscourts.gov.evil.example"), nullptr);
    EXPECT_EQ(reg->find_host("x.ecf.azb.uscourts.gov"), nullptr);
    EXPECT_EQ(reg->find_host("ecf.azb.uscourts.go"), nullptr);
    EXPECT_EQ(reg->find_host(""), nullptr);
    EXPECT_EQ(reg->find_host("."), nullptr);
    EXPECT_EQ(reg->find_id("AZB"), nullptr);
    EXPECT_EQ(reg->find_id("nope"), nullptr);
}

TEST(Registry, LaterDirectoryOverridesAndMissingDirsAreSkipped) {
    temp_dir dir;
    dir.write("usr/aaa.toml", court_file("aaa"));
    dir.write("usr/bbb.toml", court_file("bbb"));
    dir.write("etc/bbb.toml", variant("name", "name = \"Overridden\""));  // same file name, different content
    dir.write("etc/notes.txt", "not a drop-in");
    fs::create_directories(dir.path() / "etc/sub.toml");  // a directory named like a drop-in is ignored
    auto reg = registry::load({dir.path() / "usr", dir.path() / "missing", dir.path() / "etc"});
    EXPECT_TRUE(reg->errors().empty()) << all_errors(reg->errors());
    ASSERT_EQ(reg->courts().size(), 2u);
    EXPECT_NE(reg->find_id("aaa"), nullptr);
    // The etc copy of bbb.toml replaced the usr one entirely: it describes court zzz.
    EXPECT_EQ(reg->find_id("bbb"), nullptr);
    const auto* z = reg->find_id("zzz");
    ASSERT_NE(z, nullptr);
    EXPECT_EQ(z->name, "Overridden");
    EXPECT_EQ(z->file, dir.path() / "etc/bbb.toml");

    // Order matters: with the directories swapped the usr copy wins.
    auto swapped = registry::load({dir.path() / "etc", dir.path() / "usr"});
    EXPECT_NE(swapped->find_id("bbb"), nullptr);
    EXPECT_EQ(swapped->find_id("zzz"), nullptr);
}

TEST(Registry, EmptyFileMasks) {
    temp_dir dir;
    dir.write("usr/aaa.toml", court_file("aaa"));
    dir.write("usr/bbb.toml", court_file("bbb"));
    dir.write("usr/ccc.toml", court_file("ccc"));
    dir.write("etc/aaa.toml", "");
    dir.write("etc/bbb.toml", "# masked by the administrator\n\n   \n");
    auto reg = registry::load({dir.path() / "usr", dir.path() / "etc"});
    EXPECT_TRUE(reg->errors().empty()) << all_errors(reg->errors());
    ASSERT_EQ(reg->courts().size(), 1u);
    EXPECT_EQ(reg->courts()[0].id, "ccc");
    EXPECT_EQ(reg->find_host("ecf.aaa.uscourts.gov"), nullptr);
}

TEST(Registry, BadDropInsAreSkippedWithPosition) {
    struct bad_case {
        std::string text;
        int line;
        int column;
        const char* fragment;
    };
    const std::vector<bad_case> cases{
        // syntax errors: at the parser's position
        {"id = \"zzz\"\nname = \"Unterminated\n", 2, 21, ""},
        {variant("system", "system = legacy"), 5, 10, ""},
        {variant("", "", "nextgen_since = 2021-02-30\n"), 6, 27, "day"},
        // unknown key
        {variant("", "", "colour = \"red\"\n"), 6, 1, "unknown key 'colour'"},
        // missing required keys: at 1:1
        {variant("id", ""), 1, 1, "missing required key 'id'"},
        {variant("name", ""), 1, 1, "missing required key 'name'"},
        {variant("type", ""), 1, 1, "missing required key 'type'"},
        {variant("ecf_url", ""), 1, 1, "missing required key 'ecf_url'"},
        {variant("system", ""), 1, 1, "missing required key 'system'"},
        // wrong types
        {variant("name", "name = 5"), 2, 8, "name must be a string, not an integer"},
        {variant("id", "id = [\"zzz\"]"), 1, 6, "id must be a string, not an array"},
        {variant("", "", "source = 2023\n"), 6, 10, "source must be a string"},
        // bad values
        {variant("id", "id = \"ZZZ\""), 1, 6, "lower-case letters and digits"},
        {variant("id", "id = \"zz-z\""), 1, 6, "lower-case letters and digits"},
        {variant("id", "id = \"\""), 1, 6, "lower-case letters and digits"},
        {variant("name", "name = \"\""), 2, 8, "name must not be empty"},
        {variant("type", "type = \"county\""), 3, 8, "type 'county' is not one of"},
        {variant("system", "system = \"modern\""), 5, 10, "system 'modern' is not one of nextgen | legacy"},
        // bad URLs
        {variant("ecf_url", "ecf_url = \"http://ecf.zzz.uscourts.gov\""), 4, 11, "must start with https://"},
        {variant("ecf_url", "ecf_url = \"https://ecf.zzz.uscourts.gov/cgi-bin/\""), 4, 11, "no path"},
        {variant("ecf_url", "ecf_url = \"https://ecf.zzz.uscourts.gov?x=1\""), 4, 11, "no path, query"},
        {variant("ecf_url", "ecf_url = \"https://me@ecf.zzz.uscourts.gov\""), 4, 11, "user information"},
        {variant("ecf_url", "ecf_url = \"https://ecf.zzz.uscourts.gov:8443\""), 4, 11, "port 443"},
        {variant("ecf_url", "ecf_url = \"https://\""), 4, 11, "has no host"},
        {variant("ecf_url", "ecf_url = \"https://ecf..uscourts.gov\""), 4, 11, "bad host name"},
        {variant("ecf_url", "ecf_url = \"https://127.0.0.1\""), 4, 11, "bad host name"},
        {variant("ecf_url", "ecf_url = \"https://ecf_zzz.uscourts.gov\""), 4, 11, "bad host name"},
        // bad dates: a string or a date-time is not a date
        {variant("", "", "nextgen_since = \"2021-06-28\"\n"), 6, 17, "must be a TOML date"},
        {variant("", "", "nextgen_since = 2021-06-28T00:00:00Z\n"), 6, 17, "not a date-time"},
        {variant("", "", "nextgen_since = 20210628\n"), 6, 17, "not an integer"},
        // bad extra hosts
        {variant("", "", "extra_hosts = \"a.example\"\n"), 6, 15, "extra_hosts must be an array"},
        {variant("", "", "extra_hosts = [\"ok.example\", \"bad host\"]\n"), 6, 30, "'bad host' is not a valid host name"},
        {variant("", "", "extra_hosts = [1]\n"), 6, 16, "extra_hosts entry must be a string"},
        {variant("", "", "extra_hosts = [\"ECF.ZZZ.uscourts.gov\"]\n"), 6, 16, "listed twice"},
    };
    for (const auto& c : cases) {
        temp_dir dir;
        dir.write("aaa.toml", court_file("aaa"));
        auto bad = dir.write("mmm.toml", c.text);
        dir.write("zzz0.toml", court_file("ccc"));
        auto reg = registry::load({dir.path()});
        ASSERT_EQ(reg->errors().size(), 1u) << c.text << "\n" << all_errors(reg->errors());
        const auto& e = reg->errors()[0];
        EXPECT_EQ(e.file, bad.string());
        EXPECT_EQ(e.line, c.line) << c.text << "\n" << e.to_string();
        EXPECT_EQ(e.column, c.column) << c.text << "\n" << e.to_string();
        EXPECT_NE(e.message.find(c.fragment), std::string::npos) << c.text << "\n" << e.to_string();
        // Every other court still loads.
        ASSERT_EQ(reg->courts().size(), 2u) << c.text;
        EXPECT_NE(reg->find_id("aaa"), nullptr);
        EXPECT_NE(reg->find_id("ccc"), nullptr);
        EXPECT_EQ(reg->find_id("zzz"), nullptr);
    }
}

TEST(Registry, SeveralProblemsInOneFileAreAllReported) {
    temp_dir dir;
    dir.write("x.toml", "id = \"X\"\ntype = \"county\"\necf_url = \"ftp://x\"\nsystem = \"legacy\"\nwhat = 1\n");
    auto reg = registry::load({dir.path()});
    ASSERT_EQ(reg->errors().size(), 5u) << all_errors(reg->errors());
    EXPECT_EQ(reg->errors()[0].line, 1);  // missing name, reported at 1:1
    EXPECT_EQ(reg->errors()[0].column, 1);
    EXPECT_NE(reg->errors()[0].message.find("missing required key 'name'"), std::string::npos);
    EXPECT_EQ(reg->errors()[1].column, 6);  // the bad id value
    EXPECT_EQ(reg->errors()[4].line, 5);    // the unknown key, last in the file
    EXPECT_TRUE(reg->courts().empty());
}

TEST(Registry, DuplicateIdSkipsTheLaterFile) {
    temp_dir dir;
    auto first = dir.write("a-first.toml", court_file("azb"));
    auto second = dir.write("b-second.toml",
                            "id = \"azb\"\nname = \"Copy\"\ntype = \"bankruptcy\"\n"
                            "ecf_url = \"https://ecf.other.uscourts.gov\"\nsystem = \"nextgen\"\n");
    dir.write("c-third.toml", court_file("ccc"));
    auto reg = registry::load({dir.path()});
    ASSERT_EQ(reg->errors().size(), 1u) << all_errors(reg->errors());
    const auto& e = reg->errors()[0];
    EXPECT_EQ(e.file, second.string());
    EXPECT_EQ(e.line, 1);
    EXPECT_EQ(e.column, 6);
    EXPECT_NE(e.message.find("duplicate court id 'azb'"), std::string::npos) << e.to_string();
    EXPECT_NE(e.message.find(first.string()), std::string::npos) << e.to_string();
    ASSERT_EQ(reg->courts().size(), 2u);
    EXPECT_EQ(reg->find_id("azb")->name, "Court azb");
    EXPECT_EQ(reg->find_host("ecf.other.uscourts.gov"), nullptr);
}

TEST(Registry, DuplicateHostSkipsTheLaterFile) {
    temp_dir dir;
    auto first = dir.write("a.toml", court_file("aaa", "extra_hosts = [\"acms.example\"]\n"));
    auto second = dir.write("b.toml", variant("ecf_url", "ecf_url = \"https://ECF.AAA.uscourts.gov\""));
    auto third = dir.write("c.toml", court_file("ccc", "extra_hosts = [\"fine.example\", \"ACMS.example\"]\n"));
    dir.write("d.toml", court_file("ddd"));
    auto reg = registry::load({dir.path()});
    ASSERT_EQ(reg->errors().size(), 2u) << all_errors(reg->errors());
    const auto& e1 = reg->errors()[0];
    EXPECT_EQ(e1.file, second.string());
    EXPECT_EQ(e1.line, 4);
    EXPECT_EQ(e1.column, 11);
    EXPECT_NE(e1.message.find("duplicate host 'ecf.aaa.uscourts.gov'"), std::string::npos) << e1.to_string();
    EXPECT_NE(e1.message.find("'aaa'"), std::string::npos) << e1.to_string();
    EXPECT_NE(e1.message.find(first.string()), std::string::npos) << e1.to_string();
    const auto& e2 = reg->errors()[1];
    EXPECT_EQ(e2.file, third.string());
    EXPECT_EQ(e2.line, 6);
    EXPECT_EQ(e2.column, 32);
    EXPECT_NE(e2.message.find("duplicate host 'acms.example'"), std::string::npos) << e2.to_string();
    ASSERT_EQ(reg->courts().size(), 2u);
    EXPECT_EQ(reg->find_host("Acms.Example"), reg->find_id("aaa"));
    EXPECT_EQ(reg->find_host("fine.example"), nullptr);
    EXPECT_NE(reg->find_id("ddd"), nullptr);
}

TEST(Registry, UnreadableAndOddFiles) {
    temp_dir dir;
    dir.write("good.toml", court_file("good"));
    dir.write("weird.toml", "\xff\xfe garbage");
    auto reg = registry::load({dir.path()});
    ASSERT_EQ(reg->errors().size(), 1u) << all_errors(reg->errors());
    EXPECT_EQ(reg->errors()[0].file, (dir.path() / "weird.toml").string());
    EXPECT_EQ(reg->courts().size(), 1u);
    // No directories at all: an empty registry, no errors.
    auto none = registry::load({dir.path() / "absent"});
    EXPECT_TRUE(none->courts().empty());
    EXPECT_TRUE(none->errors().empty());
}

TEST(Registry, SystemOnFollowsNextgenSince) {
    temp_dir dir;
    dir.write("cut.toml", variant("", "", "nextgen_since = 2021-06-28\n"));
    dir.write("plain.toml", court_file("plain"));
    dir.write("ng.toml", "id = \"ng\"\nname = \"N\"\ntype = \"other\"\necf_url = \"https://ecf.ng.uscourts.gov\"\n"
                         "system = \"nextgen\"\n");
    auto reg = registry::load({dir.path()});
    ASSERT_TRUE(reg->errors().empty()) << all_errors(reg->errors());
    const auto* cut = reg->find_id("zzz");
    ASSERT_NE(cut, nullptr);
    ASSERT_TRUE(cut->nextgen_since);
    EXPECT_EQ(*cut->nextgen_since, courtroute::day{2021y / June / 28d});
    // The file says legacy, but the cutover date decides.
    EXPECT_EQ(cut->system, court_system::legacy);
    EXPECT_EQ(cut->system_on(courtroute::day{2021y / June / 27d}), court_system::legacy);
    EXPECT_EQ(cut->system_on(courtroute::day{2021y / June / 28d}), court_system::nextgen);
    EXPECT_EQ(cut->system_on(courtroute::day{2024y / January / 1d}), court_system::nextgen);
    EXPECT_EQ(cut->system_on(courtroute::day{2020y / December / 31d}), court_system::legacy);

    const auto* plain = reg->find_id("plain");
    EXPECT_EQ(plain->system_on(courtroute::day{2000y / January / 1d}), court_system::legacy);
    EXPECT_EQ(plain->system_on(courtroute::day{2100y / January / 1d}), court_system::legacy);
    const auto* ng = reg->find_id("ng");
    EXPECT_EQ(ng->system_on(courtroute::day{2000y / January / 1d}), court_system::nextgen);
    EXPECT_EQ(ng->type, court_type::other);
}

TEST(Registry, EnumNames) {
    EXPECT_EQ(to_string(court_type::district), "district");
    EXPECT_EQ(to_string(court_type::bankruptcy), "bankruptcy");
    EXPECT_EQ(to_string(court_type::appellate), "appellate");
    EXPECT_EQ(to_string(court_type::other), "other");
    EXPECT_EQ(to_string(court_system::nextgen), "nextgen");
    EXPECT_EQ(to_string(court_system::legacy), "legacy");
}
