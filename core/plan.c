/* core/plan.c */
