/* core/ops_ew.c */
