/* CRC-32C (Castagnoli, the iSCSI/RFC 3720 checksum) and TensorFlow's
 * "masked" form of it, which TFRecord framing (TensorBoard event files) uses
 * so that a CRC stored inside CRC'd data does not checksum to a constant. */
#ifndef SQ_CRC32C_H
#define SQ_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: start with crc = 0; crc32c(crc32c(0, a), b) == crc32c(0, ab). */
uint32_t sq_crc32c(uint32_t crc, const void *data, size_t len);
/* TensorFlow's mask: rotate right by 15 bits, add 0xa282ead8. */
uint32_t sq_crc32c_mask(uint32_t crc);

#endif
