/*
 * frame.h - Mooncake's transfer framing as it crosses the wire
 * (mooncake-transfer(7)): the 24-byte request header and the 8-byte
 * status frame of the v2 opcodes. Pure codec: no sockets, no store.
 */
#ifndef XFER_FRAME_H
#define XFER_FRAME_H

#include <stdint.h>

#define XFER_HDR_LEN	24
#define XFER_STATUS_LEN 8
#define XFER_OP_READ	0
#define XFER_OP_WRITE	1
#define XFER_V2		0x80	      /* opcode bit: status frames */
#define XFER_MAGIC	0x4D435456ull /* "MCTV", high half of a status */
#define XFER_OK		0
#define XFER_REJECTED	1

struct xfer_hdr {
	uint64_t size;
	uint64_t addr;
	uint8_t opcode;
};

/* Little-endian wire form: u64 size, u64 addr, u8 opcode, 7 zero bytes. */
void xfer_hdr_encode(const struct xfer_hdr *h, unsigned char out[XFER_HDR_LEN]);
void xfer_hdr_decode(const unsigned char in[XFER_HDR_LEN], struct xfer_hdr *h);
void xfer_status_encode(unsigned code, unsigned char out[XFER_STATUS_LEN]);
/* The code of a status frame, or -1 when its magic is wrong. */
int xfer_status_decode(const unsigned char in[XFER_STATUS_LEN]);

#endif
