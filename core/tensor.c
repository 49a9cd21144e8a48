/* core/tensor.c */
