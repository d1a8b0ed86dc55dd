/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUE_REPORT_H
#define FUE_REPORT_H

#include "export.h"
#include "init.h"
#include "mount.h"

void report_init(const struct export *exp, const struct init_result *init);
void report_serving(const struct export *exp, const struct export_mount *m);

#endif /* FUE_REPORT_H */
