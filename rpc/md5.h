/*
 * md5.h - MD5 (RFC 1321) and the two 32-bit hashes of Mooncake's master
 * RPC that are built on it (man/mooncake-rpc.7).
 *
 * The RPC needs MD5 only to name things, never for security: a function id
 * is the hash of the function's qualified name, and a struct_pack type
 * code is the hash of the type's literal (sp.h), so both ends agree on
 * them without a registry. Every function here is pure and thread-safe.
 */
#ifndef RPC_MD5_H
#define RPC_MD5_H

#include <stddef.h>
#include <stdint.h>

#define RPC_MD5_LEN 16

/* The 16-byte MD5 digest of the @n bytes at @p (@p may be NULL if @n is 0). */
void rpc_md5(const void *p, size_t n, unsigned char out[RPC_MD5_LEN]);

/*
 * The first four digest bytes read big-endian: yalantinglibs' MD5Hash32
 * (it swaps the first state word, which MD5 stores little-endian).
 */
uint32_t rpc_md5_hash32(const void *p, size_t n);

/*
 * A coro_rpc function id: rpc_md5_hash32 of the function's name as the
 * server registered it, e.g. "mooncake::WrappedMasterService::Ping". It
 * depends on the name only, never on the signature.
 */
uint32_t rpc_func_id(const char *qualified_name);

/*
 * A struct_pack type code: rpc_md5_hash32 of the @n bytes of a type
 * literal with bit 0 cleared (bit 0 of a body's head says whether a
 * metainfo byte follows).
 */
uint32_t rpc_type_code(const void *literal, size_t n);

#endif
