#pragma once
// Debian keeps these headers under include/hdf5/serial; pkg-config (`hdf5`) supplies the path.
#include <hdf5.h>

// HDF5's handles and flags are macros that expand to `(H5open(), H5X_..._g)` or plain ints;
// Swift imports neither as `hid_t`/`unsigned`, so each one gets a typed accessor here.
static inline hid_t chdf5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_s_all(void) { return H5S_ALL; }
static inline hid_t chdf5_e_default(void) { return H5E_DEFAULT; }
static inline unsigned chdf5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline size_t chdf5_t_variable(void) { return H5T_VARIABLE; }
static inline haddr_t chdf5_haddr_undef(void) { return HADDR_UNDEF; }

static inline hid_t chdf5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t chdf5_p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t chdf5_p_group_create(void) { return H5P_GROUP_CREATE; }
static inline hid_t chdf5_p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t chdf5_p_file_access(void) { return H5P_FILE_ACCESS; }

static inline hid_t chdf5_t_c_s1(void) { return H5T_C_S1; }
static inline hid_t chdf5_t_std_i8le(void) { return H5T_STD_I8LE; }
static inline hid_t chdf5_t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t chdf5_t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t chdf5_t_native_int(void) { return H5T_NATIVE_INT; }

/// Turns off the library's habit of printing its error stack to stderr; errors are read with `H5Ewalk2` instead.
static inline herr_t chdf5_silence_errors(void) { return H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// One frame of the default error stack, innermost first: the text pbrepo puts into its own errors.
typedef void (*chdf5_error_sink)(const char *function, const char *description, void *context);
static herr_t chdf5_error_walker(unsigned n, const H5E_error2_t *err, void *context) {
    void **pair = (void **)context;
    chdf5_error_sink sink = (chdf5_error_sink)pair[0];
    sink(err->func_name, err->desc, pair[1]);
    return 0;
}
static inline void chdf5_walk_errors(chdf5_error_sink sink, void *context) {
    void *pair[2] = {(void *)sink, context};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, chdf5_error_walker, pair);
}
static inline void chdf5_clear_errors(void) { H5Eclear2(H5E_DEFAULT); }
