/* core/ops_row.c */
