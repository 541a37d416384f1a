// hiredis 0.14 (Debian 12). redisCommand is C-variadic and cannot be called
// from Swift: use redisCommandArgv / redisAppendCommandArgv + redisGetReply.
#ifndef EAST_CHIREDIS_SHIM_H
#define EAST_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
