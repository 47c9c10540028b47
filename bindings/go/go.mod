// SPDX-License-Identifier: MIT
module github.com/upcall/upcall/bindings/go

go 1.19
