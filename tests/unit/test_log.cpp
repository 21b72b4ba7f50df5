// Status lines: the program's prefix on stderr, or the sink an embedding application sets.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cotrack/log.hpp"

TEST_SUITE("unit") {
  TEST_CASE("log: lines reach the sink whole, without prefix; nullptr restores stderr") {
    std::vector<std::string> lines;
    cotrack::set_log_prefix("cotrack test");
    cotrack::set_log_sink([&lines](const std::string& l) { lines.push_back(l); });
    cotrack::log_message("{} of {} frames", 3, 7);
    cotrack::log_line("done");
    cotrack::set_log_sink(nullptr);
    cotrack::log_line("to stderr, not the sink");
    cotrack::set_log_prefix("cotrack");
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] == "3 of 7 frames");
    CHECK(lines[1] == "done");
  }
}
