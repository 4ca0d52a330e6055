//! The bytes of a params struct as generated code embeds them: every field's bytes at its
//! offset and **zeros in the padding**. Copying a struct's raw bytes would also copy its
//! padding — whatever the stack held — into the template, and an object file would then embed
//! that garbage (or a stray half of some address) as data.

/// A kernel-params value (or a field of one) that can write its bytes with padding zeroed.
pub trait ParamBytes: Copy + 'static {
    /// Writes `size_of::<Self>()` bytes into `out` (exactly that long): each field's bytes in
    /// native order at its offset, padding left as `out` had it.
    fn write_bytes(&self, out: &mut [u8]);

    /// The value's bytes, padding zeroed.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0; std::mem::size_of::<Self>()];
        self.write_bytes(&mut out);
        out
    }
}

macro_rules! scalar_bytes {
    ($($t:ty),*) => {
        $(impl ParamBytes for $t {
            fn write_bytes(&self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_ne_bytes());
            }
        })*
    };
}
scalar_bytes!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64);

impl<T: 'static> ParamBytes for *const T {
    fn write_bytes(&self, out: &mut [u8]) {
        out.copy_from_slice(&(*self as usize).to_ne_bytes());
    }
}

impl<T: 'static> ParamBytes for *mut T {
    fn write_bytes(&self, out: &mut [u8]) {
        out.copy_from_slice(&(*self as usize).to_ne_bytes());
    }
}

impl<T: ParamBytes, const N: usize> ParamBytes for [T; N] {
    fn write_bytes(&self, out: &mut [u8]) {
        let size = std::mem::size_of::<T>();
        for (x, dst) in self.iter().zip(out.chunks_exact_mut(size)) {
            x.write_bytes(dst);
        }
    }
}

/// Defines a `#[repr(C)]` params struct and its [`ParamBytes`]: each field written at its
/// `offset_of!`, so the padding between fields comes out as zeros.
macro_rules! kernel_params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident: $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty),*
        }

        impl $crate::params::ParamBytes for $name {
            fn write_bytes(&self, out: &mut [u8]) {
                $(
                    let at = ::std::mem::offset_of!($name, $field);
                    $crate::params::ParamBytes::write_bytes(
                        &self.$field,
                        &mut out[at..at + ::std::mem::size_of::<$ty>()],
                    );
                )*
            }
        }
    };
}
pub(crate) use kernel_params;

#[cfg(test)]
mod tests {
    use super::*;

    kernel_params! {
        #[derive(Clone, Copy)]
        struct Padded {
            a: u32,
            b: *const f32,
            c: [u16; 3],
            d: f32,
        }
    }

    #[test]
    fn padding_comes_out_as_zeros_and_fields_at_their_offsets() {
        let p = Padded {
            a: 0x0102_0304,
            b: 0x1122_3344_5566_7788usize as *const f32,
            c: [0xaaaa, 0xbbbb, 0xcccc],
            d: 1.5,
        };
        let bytes = p.to_bytes();
        assert_eq!(bytes.len(), 32);
        assert_eq!(&bytes[0..4], &0x0102_0304u32.to_ne_bytes());
        assert_eq!(&bytes[4..8], &[0; 4], "padding after `a`");
        assert_eq!(&bytes[8..16], &0x1122_3344_5566_7788usize.to_ne_bytes());
        assert_eq!(&bytes[16..18], &0xaaaau16.to_ne_bytes());
        assert_eq!(&bytes[20..22], &0xccccu16.to_ne_bytes());
        assert_eq!(&bytes[22..24], &[0; 2], "padding after `c`");
        assert_eq!(&bytes[24..28], &1.5f32.to_ne_bytes());
        assert_eq!(&bytes[28..32], &[0; 4], "padding at the end");
    }
}
