/* report_html.c - placeholder replaced below */
#include "report_out.h"
void report_html(struct strbuf *out, const struct report_context *ctx)
{
    (void)ctx;
    strbuf_printf(out, "<!DOCTYPE html><title>x</title>\n");
}
