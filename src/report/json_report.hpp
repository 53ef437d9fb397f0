// The JSON document scripts rely on. Its keys are a contract: units are in the key names, and a
// key once published keeps its meaning. Documented in man/virt-migrate-predict.rst.
#pragma once

#include <nlohmann/json.hpp>

#include "report/report.hpp"

namespace vmp::report {

// 2: prediction.total_time_ms is libvirt's job, libvirt's steps included; version 1's
// total_time_ms (QEMU's own total-time) is prediction.qemu_total_time_ms.
inline constexpr int kReportVersion = 2;

nlohmann::json to_json(const Report& report);
// A time for the report: whole ms, rounded up; null when infinite.
nlohmann::json rounded_ms(double ms);
// An interval's ends, {low, high}, each `field` of that end's result: null where that end does
// not converge (the time is then unbounded).
nlohmann::json interval_json(const model::PredictionInterval& in,
                             double model::PrecopyResult::*field);
// A run or a domain that ended in an error: the object --json writes alone (one domain, a
// profile, a usage error) or in the array several domains give. `error_key` is the machine key.
nlohmann::json error_json(const std::string& subject, const std::string& message,
                          int exit_status, const std::string& error_key);

}  // namespace vmp::report
