#pragma once
// Telling whether a client is still there while its request runs. cpp-httplib (0.11) does
// not hand a handler its socket, so the handler finds it among the process's descriptors
// by the connection's addresses, which are unique while the connection is open.

#include <string>

namespace ponder::server {

// The descriptor of the open TCP connection from remote_addr:remote_port to local_port,
// or -1 if none is found.
int find_client_socket(const std::string& remote_addr, int remote_port, int local_port);

// True once the peer has closed or reset the connection (a cut-off client). Never blocks.
bool peer_closed(int fd);

}  // namespace ponder::server
