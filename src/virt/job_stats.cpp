#include "virt/job_stats.hpp"

#include "virt/job_keys.hpp"

namespace vmp::virt {

std::optional<double> JobStats::number(std::string_view key) const {
  auto it = numbers.find(std::string(key));
  if (it == numbers.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> JobStats::string(std::string_view key) const {
  auto it = strings.find(std::string(key));
  if (it == strings.end()) return std::nullopt;
  return it->second;
}

bool JobStats::migrating_out() const {
  auto op = number(job::kOperation);
  return !op || *op == job::kOperationMigrationOut;
}

bool JobStats::migrating_in() const {
  auto op = number(job::kOperation);
  return op && *op == job::kOperationMigrationIn;
}

nlohmann::json job_stats_to_json(const JobStats& s) {
  nlohmann::json j = {{"type", s.type}};
  for (const auto& [k, v] : s.numbers) j[k] = v;
  for (const auto& [k, v] : s.strings) j[k] = v;
  return j;
}

JobStats job_stats_from_json(const nlohmann::json& j) {
  JobStats s;
  for (const auto& [k, v] : j.items()) {
    if (k == "type") {
      s.type = v.get<int>();
    } else if (v.is_number()) {
      s.numbers[k] = v.get<double>();
    } else if (v.is_string()) {
      s.strings[k] = v.get<std::string>();
    }
  }
  return s;
}

}  // namespace vmp::virt
