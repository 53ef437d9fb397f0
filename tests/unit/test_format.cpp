#include <gtest/gtest.h>

#include "base/format.hpp"
#include "report/human.hpp"

using namespace vmp;

TEST(Format, Bytes) {
  EXPECT_EQ(format_bytes(512), "512 bytes");
  EXPECT_EQ(format_bytes(1 << 30), "1.00 GiB");
  EXPECT_EQ(format_bytes(418.0 * 1048576), "418 MiB");
  EXPECT_EQ(format_bytes(38.4 * 1048576), "38.4 MiB");
}

TEST(Format, Durations) {
  EXPECT_EQ(format_duration(850), "850 ms");
  EXPECT_EQ(format_duration(6940), "6.9 s");
  EXPECT_EQ(format_duration(13200), "13 s");
  EXPECT_EQ(format_duration(99000), "1m39s");
  EXPECT_EQ(format_duration(3720000), "1h02m");
  EXPECT_EQ(format_duration_compact(99000), "1m39s");
  EXPECT_EQ(format_duration_compact(850), "850ms");
}

TEST(Format, PeriodsAreExactToTheMillisecond) {
  EXPECT_EQ(format_period(125), "125 ms");
  EXPECT_EQ(format_period(1000), "1.0 s");
  EXPECT_EQ(format_period(1250), "1.25 s");
  EXPECT_EQ(format_period(5750), "5.75 s");
  EXPECT_EQ(format_period(2500), "2.5 s");
  EXPECT_EQ(format_period(1125), "1.125 s");
  EXPECT_EQ(format_period(12000), "12 s");
  EXPECT_EQ(format_period(12250), "12.25 s");
  EXPECT_EQ(format_period(5749.6), "5.75 s");
}

TEST(Format, Rates) {
  EXPECT_EQ(format_link_rate(1.25e9), "10 Gbit/s");
  EXPECT_EQ(format_link_rate(12.5e6), "100 Mbit/s");
  EXPECT_EQ(format_link_rate(312.5e6), "2.5 Gbit/s");
  EXPECT_EQ(format_rate(128.0 * 1048576), "128 MiB/s (1.07 Gbit/s)");
  EXPECT_EQ(format_link_rate(64.0 * 1048576), "537 Mbit/s");
  EXPECT_EQ(format_link_rate(5e9 / 8), "5 Gbit/s");
  EXPECT_EQ(format_page_size(4096), "4 KiB");
  EXPECT_EQ(format_page_size(2097152), "2 MiB");
  EXPECT_EQ(format_page_size(1073741824), "1 GiB");
}

TEST(Format, PrintableEscapesControlsAndOneLineFoldsLines) {
  using vmp::one_line;
  using vmp::printable;
  EXPECT_EQ(printable("plain text"), "plain text");
  EXPECT_EQ(printable(std::string("a\x1b[2Jb") + '\0' + "c\x7f"), "a\\x1b[2Jb\\x00c\\x7f");
  EXPECT_EQ(printable("two\nlines"), "two lines");
  EXPECT_EQ(one_line("/tmp/x:1: Start tag expected\nnot\n^\n"), "/tmp/x:1: Start tag expected; not; ^");
  EXPECT_EQ(one_line("a  \n\n  b\tc"), "a; b c");
  EXPECT_EQ(printable("UTF-8 stays: é €"), "UTF-8 stays: é €");
  EXPECT_EQ(printable("not UTF-8: \xff\xc3(\xe2\x82"), "not UTF-8: \\xff\\xc3(\\xe2\\x82");
  EXPECT_EQ(printable("overlong \xc0\xaf, surrogate \xed\xa0\x80"),
            "overlong \\xc0\\xaf, surrogate \\xed\\xa0\\x80");
}

// A tiny bandwidth's migration can take years: no int overflow (UBSan found it by fuzzing).
TEST(Format, DurationsOfYears) {
  EXPECT_EQ(vmp::format_duration(3600.0 * 1000 * 2 + 60000 * 3), "2h03m");
  EXPECT_EQ(vmp::format_duration(9.3825e9 * 60000), "156375000h00m");
}

// The favourable end of the interval (fewer dirty pages) can pause longer than the unfavourable
// one: what is left at the switchover is below the threshold either way. The line says the
// pause as a range, low to high, not "250 ms to 226 ms" (as a live run on QEMU 10.0 printed).
TEST(Format, IntervalPauseIsARange) {
  vmp::model::PredictionInterval in;
  in.low.outcome = vmp::model::PrecopyOutcome::Converged;
  in.low.total_time_ms = 2900;
  in.low.downtime_ms = 250;
  in.high.outcome = vmp::model::PrecopyOutcome::Converged;
  in.high.total_time_ms = 5000;
  in.high.downtime_ms = 226;
  vmp::model::PrecopyResult point;
  point.outcome = vmp::model::PrecopyOutcome::Converged;
  point.downtime_ms = 240;
  const std::string line = vmp::report::interval_line(in, point);
  EXPECT_NE(line.find("2.9 s to 5.0 s, paused 226 ms to 250 ms"), std::string::npos) << line;
  // Both ends may pause longer than the prediction (a 1 GiB example profile: 252 ms predicted,
  // 274 and 280 ms at the ends): the range holds the pause the report's first line gives.
  point.downtime_ms = 200;
  const std::string wider = vmp::report::interval_line(in, point);
  EXPECT_NE(wider.find("paused 200 ms to 250 ms"), std::string::npos) << wider;
  in.high.outcome = vmp::model::PrecopyOutcome::Deadline;
  const std::string open = vmp::report::interval_line(in, point);
  EXPECT_NE(open.find("2.9 s to no convergence, paused 250 ms to -"), std::string::npos) << open;
}
