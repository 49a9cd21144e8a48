/* core/backend_cpu.c */
