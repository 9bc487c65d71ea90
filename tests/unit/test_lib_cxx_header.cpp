/* SPDX-License-Identifier: Apache-2.0 */
// ttalloc.h compiles as C++ and links from C++ (extern "C" names).
#include <ttalloc.h>

#include <cstdio>
#include <cstring>

int main()
{
    ttalloc_device_desc desc{};
    std::strncpy(desc.board_type, "n300", sizeof(desc.board_type) - 1);
    ttalloc_buffer_type type = TTALLOC_L1;
    // Invalid arguments are rejected without touching any server.
    if (ttalloc_record_alloc(0, type, 0x1000, 0) != -22)
        return 1;
    if (ttalloc_type_name(TTALLOC_CB) == nullptr ||
        std::strcmp(ttalloc_type_name(TTALLOC_CB), "cb") != 0)
        return 1;
    ttalloc_conn *conn = nullptr;
    (void)conn;
    std::printf("ok\n");
    return 0;
}
