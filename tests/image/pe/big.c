/* A DLL of about 1 MiB for the image benchmarks (BM_map_image,
 * BM_relocate): 512 KiB of read-only data, 256 KiB of writable data, and
 * a table of pointers that puts a base relocation on every 8 or 16 bytes
 * of 256 KiB of .data (so relocating touches every page of it). Built like
 * image.c (see tests/image/pe_images.cmake). */

#define RODATA_BYTES (512 * 1024)
#define DATA_BYTES (256 * 1024)
#define POINTERS (256 * 1024 / 8)

const unsigned char big_rodata[RODATA_BYTES] = {[0 ... RODATA_BYTES - 1] = 0x5A};
unsigned char big_data[DATA_BYTES] = {[0 ... DATA_BYTES - 1] = 0xA5};
const void *big_pointers[POINTERS] = {[0 ... POINTERS - 1] = &big_data[0]};

__declspec(dllexport) unsigned big_sum(unsigned i) {
  return big_rodata[i % RODATA_BYTES] + big_data[i % DATA_BYTES] +
         (big_pointers[i % POINTERS] != 0);
}

int image_entry(void) { return (int)big_sum(7); }
