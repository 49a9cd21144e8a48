# tests/dtype/variants.py: the programs of the dtype suite, made from one list (standard library
# only: gen.py makes torch's output from them, run_dtype.py backstep's). A variant of a
# tests/pytorch case is that program with one cast line after its leading comments; a program of
# src/ is used as it is. Only the .out files (torch's output) are committed, in cases/.
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, 'src')
PYTORCH_CASES = os.path.join(HERE, '..', 'pytorch', 'cases')
DTYPES = {'f32': 'float32', 'f16': 'float16', 'bf16': 'bfloat16'}

# (program, dtypes): a name in tests/pytorch/cases, or 'src:NAME' for tests/dtype/src/NAME.py
# (whose dtypes are spelled inside it: one variant, '-').
CASES_LIST = [
    ('src:gradscaler_trace', ('-',)),
    ('src:underflow_scaling', ('-',)),
    ('src:float_math', ('-',)),
    ('src:adam_bf16', ('-',)),
    ('src:layernorm_bf16', ('-',)),
    ('src:arange_lanes', ('-',)),
    ('src:softmax_dims', ('-',)),
    ('src:cast_spellings', ('-',)),
    ('accum_equals_batch', ('f32', 'bf16')),
    ('accum_steps', ('f32',)),
    ('accum_twice', ('f32', 'bf16', 'f16')),
    ('bool_masks', ('f32', 'bf16')),
    ('cat_stack', ('f32', 'bf16')),
    ('control_if_elif', ('f32', 'bf16', 'f16')),
    ('crossentropy_module', ('f32', 'bf16')),
    ('decorator_no_grad', ('f32', 'bf16', 'f16')),
    ('def_default_args', ('f32', 'bf16', 'f16')),
    ('def_forward_loss', ('f32', 'bf16')),
    ('def_recursion', ('f32', 'bf16', 'f16')),
    ('def_sigmoid_manual', ('f32', 'bf16')),
    ('def_tuple_return', ('f32', 'bf16', 'f16')),
    ('detach_stop', ('f32', 'bf16', 'f16')),
    ('detach_teacher', ('f32', 'bf16')),
    ('dict_history', ('f32', 'bf16')),
    ('dropout_eval', ('f32', 'bf16')),
    ('enumerate_data', ('f32', 'bf16', 'f16')),
    ('frag_autograd_forward_dag', ('f32', 'bf16')),
    ('frag_autograd_loss_scaling', ('f32', 'bf16')),
    ('frag_autograd_no_grad_val', ('f32', 'bf16')),
    ('frag_autograd_requires_grad', ('f32', 'bf16', 'f16')),
    ('frag_autograd_teacher', ('f32', 'bf16')),
    ('frag_backward_pass_nonscalar', ('f32', 'bf16')),
    ('frag_backward_pass_zero_grad', ('f32',)),
    ('frag_deepdive_accumulation', ('f32',)),
    ('frag_deepdive_bug_fix', ('f32', 'bf16')),
    ('frag_deepdive_no_grad', ('f32', 'bf16')),
    ('frag_deepdive_rl_detach', ('f32',)),
    ('fstring_formats', ('f32', 'bf16', 'f16')),
    ('functional_activations', ('f32', 'bf16')),
    ('functional_losses', ('f32',)),
    ('index_column_row', ('f32', 'bf16', 'f16')),
    ('index_element', ('f32', 'bf16', 'f16')),
    ('index_loop_rows', ('f32', 'bf16', 'f16')),
    ('index_slices', ('f32', 'bf16', 'f16')),
    ('index_tensor', ('f32', 'bf16', 'f16')),
    ('lambda_builtins', ('f32', 'bf16')),
    ('linear41_adam', ('f32',)),
    ('linear41_copy', ('f32', 'bf16')),
    ('linear41_train', ('f32',)),
    ('list_of_tensors', ('f32', 'bf16', 'f16')),
    ('masks_where', ('f32', 'bf16', 'f16')),
    ('mlp_scalar_micrograd', ('f32', 'bf16')),
    ('module_helper_method', ('f32', 'bf16', 'f16')),
    ('module_manual_params', ('f32', 'bf16', 'f16')),
    ('module_nested_sequential', ('f32', 'bf16')),
    ('module_train_sgd', ('f32', 'bf16')),
    ('module_two_layer', ('f32', 'bf16')),
    ('named_parameters_norms', ('f32',)),
    ('nn_layernorm_embedding', ('f32', 'bf16')),
    ('no_grad_block', ('f32', 'bf16', 'f16')),
    ('nonscalar_backward', ('f32', 'bf16')),
    ('optim_adam_betas', ('f32', 'bf16')),
    ('optim_adam_model', ('f32',)),
    ('optim_param_groups', ('f32',)),
    ('optim_sgd_list', ('f32', 'bf16')),
    ('optim_sgd_momentum', ('f32',)),
    ('overview_explicit', ('f32',)),
    ('print_tensors', ('f32', 'bf16', 'f16')),
    ('python_values', ('f32', 'bf16', 'f16')),
    ('ref_autograd_linear41', ('f32', 'bf16')),
    ('ref_deepdive_sequential_bce', ('f32',)),
    ('ref_deepdive_training_loop', ('f32',)),
    ('ref_overview_training_step', ('f32',)),
    ('seq_221_bce', ('f32',)),
    ('seq_221_train', ('f32',)),
    ('seq_bce_with_logits', ('f32',)),
    ('seq_param_assign', ('f32',)),
    ('sgd_221_scalars', ('f32', 'bf16')),
    ('sgd_list_params', ('f32', 'bf16')),
    ('sgd_matrix_loop', ('f32', 'bf16')),
    ('sgd_scalar_loop', ('f32', 'bf16', 'f16')),
    ('sgd_tensor_zero_', ('f32', 'bf16')),
    ('shape_len_size', ('f32', 'bf16', 'f16')),
    ('softmax_sum_zero', ('f32', 'bf16')),
    ('tensor_methods', ('f32', 'bf16')),
    ('tensor_utilities', ('f32', 'bf16')),
    ('try_except', ('f32', 'bf16')),
    ('while_converge', ('f32', 'bf16', 'f16')),
    ('xor_sequential', ('f32',)),
]


def cast_text(src, dt):
    """The program with the cast line put after its leading comment block."""
    lines = src.splitlines(True)
    i = 0
    while i < len(lines) and lines[i].startswith('#'):
        i += 1
    line = 'import torch; torch.set_default_dtype(torch.%s)  # gen.py: the cast\n' % DTYPES[dt]
    return ''.join(lines[:i]) + line + ''.join(lines[i:])


def variants():
    """[(variant name, program text)] for CASES_LIST."""
    out = []
    for prog, dts in CASES_LIST:
        if prog.startswith('src:'):
            name = prog[4:]
            with open(os.path.join(SRC, name + '.py')) as f:
                out.append((name, f.read()))
            continue
        with open(os.path.join(PYTORCH_CASES, prog + '.py')) as f:
            src = f.read()
        for dt in dts:
            out.append(('%s.%s' % (prog, dt), cast_text(src, dt)))
    return out
