/* core/ops_red.c */
