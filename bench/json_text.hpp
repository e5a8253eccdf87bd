#pragma once
// JSON text for benchmark output with plain decimal numbers ("0.74", not Boost's "7.4E-1"), for people and
// scripts alike.
#include <string>

#include <boost/json.hpp>

namespace chorus::bench {

std::string formatJson(const boost::json::value& v);

}  // namespace chorus::bench
