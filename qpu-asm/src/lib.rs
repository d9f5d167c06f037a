//! Assembler and disassembler for the Broadcom V3D 7.1 QPU.
