/* For running plexsync.exe under Debian's wine 8 in `cargo xtask dist` only; never shipped.
 * Rust's standard library draws randomness with ProcessPrng from bcryptprimitives.dll (present
 * on Windows 10 and later); wine 8 lacks that DLL, so this one stands in for it in the test
 * prefix, drawing from advapi32's RtlGenRandom. */
#include <windows.h>
/* advapi32's RtlGenRandom */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
