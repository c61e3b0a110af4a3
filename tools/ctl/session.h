// Session: what every meictl command that talks to cache nodes is given once the command line is
// read: the nodes, the admin token, the HTTP client settings and the output mode.
#pragma once

#include <string>
#include <vector>

#include "common/http/client.h"
#include "tools/ctl/node_list.h"

namespace mei::tools {

struct Session {
  std::vector<NodeAddress> nodes;  // in the order the operator gave them; reports keep it
  std::string token;               // never printed
  http::ClientOptions client;
  bool json = false;  // one JSON document on stdout instead of tables
};

}  // namespace mei::tools
