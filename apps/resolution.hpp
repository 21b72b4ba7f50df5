// "HxW" text -> (H, W), shared by the programs' --resolution options (torch-free).
#pragma once

#include <string>
#include <utility>

namespace cotrack::app {

// "HxW" -> (H, W), both positive; throws UsageError naming the text otherwise.
std::pair<int, int> parse_resolution(const std::string& text);

}  // namespace cotrack::app
