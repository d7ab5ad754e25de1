/*
 * rpc.h - the one header users of rpc/ include: Mooncake's master RPC on
 * the wire (man/mooncake-rpc.7), with nothing of the core in it.
 *
 *   md5.h    MD5, function ids, type codes
 *   sp.h     struct_pack: buffers, the arena, values, the codec
 *   msg.h    the calls' C structs and the call table
 *   frame.h  coro_rpc framing, the dispatcher, the per-connection session
 *   server.h the epoll server that serves a handler table
 *   client.h a blocking client (tests, tools)
 *
 * The headers include one another by their plain names, which resolve
 * in this directory first, so a target may put rpc/ on its include path
 * beside directories holding headers of the same names (xfer/frame.h).
 */
#ifndef RPC_RPC_H
#define RPC_RPC_H

#include "md5.h"
#include "sp.h"
#include "msg.h"
#include "frame.h"
#include "server.h"
#include "client.h"

#endif
