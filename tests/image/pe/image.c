/* A small PE image for mmkit's image-section tests, built by the mingw-w64
 * cross compilers with -nostdlib (no CRT, no imports: the bytes depend only
 * on this file and the linker flags in tests/image/pe_images.cmake).
 *
 * It has every kind of section an image section must lay out:
 *   .text    code                            EXECUTE_READ
 *   .rdata   read-only data, with a pointer   READONLY
 *   .data    writable data, with pointers     WRITECOPY
 *   .shared  a shared writable section        READWRITE (shared by views)
 *   .bss     uninitialised data, no raw bytes WRITECOPY, zero
 *   .reloc   base relocations for every pointer below (unless the image is
 *            linked with its relocations stripped)
 * Built with MMKIT_IMAGE_DLL it exports image_add (a DLL); without, it is
 * an EXE whose entry point is image_entry. */

#ifdef MMKIT_IMAGE_DLL
#define IMAGE_EXPORT __declspec(dllexport)
#else
#define IMAGE_EXPORT
#endif

/* GCC's `shared` attribute marks the section IMAGE_SCN_MEM_SHARED. */
__attribute__((section(".shared"), shared)) int shared_counter = 1;

int data_value = 0x11223344;
int *data_pointer = &data_value;            /* a fixup in .data */
const int rodata_table[4] = {1, 2, 3, 4};
const int *const rodata_pointer = &rodata_table[2]; /* a fixup in .rdata */
int bss_buffer[1024];                       /* a page of .bss */

IMAGE_EXPORT int image_add(int x);
int (*function_pointer)(int) = image_add;   /* a fixup to code */

IMAGE_EXPORT int image_add(int x) {
  bss_buffer[x & 1023] = x;
  shared_counter += x;
  return x + *data_pointer + *rodata_pointer + rodata_table[x & 3];
}

int image_entry(void) { return function_pointer(1) != 0; }
