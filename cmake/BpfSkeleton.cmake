# vigil_bpf_skeleton(NAME SOURCE): compiles an eBPF program and generates its libbpf skeleton.
#
#   SOURCE (e.g. bpf/process.bpf.c) --clang-19 -target bpf--> NAME.tmp.bpf.o
#          --bpftool gen object--> NAME.bpf.o   (linked by libbpf, DWARF dropped, BTF kept)
#          --bpftool gen skeleton--> <build>/bpf/skel/NAME.skel.h   (embeds the object)
#
# Creates the INTERFACE target vigil_bpf_<NAME>: link it PRIVATE into the one library that may
# include "NAME.skel.h" (src/probe). It carries the include directory and the build-order
# dependency on the generation step, nothing else. CO-RE: the program is compiled against the
# committed bpf/vmlinux/<arch>/vmlinux.h, never the build host's BTF (see docs/bpf.md).
include_guard(GLOBAL)

find_program(VIGIL_BPF_CLANG NAMES clang-19 DOC "clang able to emit eBPF (-target bpf)")
find_program(VIGIL_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin DOC "bpftool (gen object, gen skeleton)")
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBBPF IMPORTED_TARGET libbpf>=1.0)
if(NOT VIGIL_BPF_CLANG OR NOT VIGIL_BPFTOOL OR NOT LIBBPF_FOUND)
  message(FATAL_ERROR
    "vigil's eBPF toolchain is incomplete (clang-19: '${VIGIL_BPF_CLANG}', bpftool: '${VIGIL_BPFTOOL}', "
    "libbpf >= 1.0 found: '${LIBBPF_FOUND}'). Run scripts/bootstrap.sh as root (or `make deps`); "
    "it installs clang-19, bpftool and libbpf-dev from scripts/deps.txt.")
endif()

# The eBPF target architecture: picks bpf/vmlinux/<dir> and the -D__TARGET_ARCH_<arch> that
# bpf_tracing.h needs. Add a row (and a vmlinux.h) per supported architecture.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(VIGIL_BPF_ARCH_DIR x86_64)
  set(VIGIL_BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(VIGIL_BPF_ARCH_DIR aarch64)
  set(VIGIL_BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "vigil: no eBPF support for processor '${CMAKE_SYSTEM_PROCESSOR}'")
endif()
set(VIGIL_BPF_VMLINUX_DIR ${PROJECT_SOURCE_DIR}/bpf/vmlinux/${VIGIL_BPF_ARCH_DIR})
if(NOT EXISTS ${VIGIL_BPF_VMLINUX_DIR}/vmlinux.h)
  message(FATAL_ERROR "vigil: ${VIGIL_BPF_VMLINUX_DIR}/vmlinux.h is missing; docs/bpf.md says how to generate it")
endif()
set(VIGIL_BPF_SKEL_DIR ${CMAKE_BINARY_DIR}/bpf/skel)

function(vigil_bpf_skeleton name source)
  get_filename_component(source ${source} ABSOLUTE BASE_DIR ${PROJECT_SOURCE_DIR})
  set(out_dir ${CMAKE_BINARY_DIR}/bpf)
  set(tmp_obj ${out_dir}/${name}.tmp.bpf.o)
  set(obj ${out_dir}/${name}.bpf.o)
  set(skel ${VIGIL_BPF_SKEL_DIR}/${name}.skel.h)
  set(flags -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${VIGIL_BPF_TARGET_ARCH} -Wall)
  if(VIGIL_WERROR)
    list(APPEND flags -Werror)
  endif()
  # libbpf's <bpf/*.h> come after everything else so clang's own headers win.
  set(includes -I${VIGIL_BPF_VMLINUX_DIR} -I${PROJECT_SOURCE_DIR}/bpf/abi)
  foreach(dir IN LISTS LIBBPF_INCLUDE_DIRS)
    list(APPEND includes -idirafter ${dir})
  endforeach()
  if(NOT LIBBPF_INCLUDE_DIRS)
    list(APPEND includes -idirafter /usr/include)
  endif()
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir} ${VIGIL_BPF_SKEL_DIR}
    COMMAND ${VIGIL_BPF_CLANG} ${flags} ${includes} -MD -MF ${tmp_obj}.d -MT ${skel} -c ${source} -o ${tmp_obj}
    COMMAND ${VIGIL_BPFTOOL} gen object ${obj} ${tmp_obj}
    COMMAND ${VIGIL_BPFTOOL} gen skeleton ${obj} name vigil_${name}_bpf > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${source}
    DEPFILE ${tmp_obj}.d
    COMMENT "eBPF: ${name}.bpf.c -> ${name}.skel.h"
    VERBATIM)
  add_custom_target(vigil_bpf_${name}_skel DEPENDS ${skel})
  add_library(vigil_bpf_${name} INTERFACE)
  target_include_directories(vigil_bpf_${name} INTERFACE ${VIGIL_BPF_SKEL_DIR})
  add_dependencies(vigil_bpf_${name} vigil_bpf_${name}_skel)
endfunction()
