//! Choosing the compute device from a string: `flex` (CPU, always), `wgpu` and `cuda[:N]`
//! (with the cargo features of the same names).

use burn::tensor::Device;

/// Parses `flex`, `wgpu`, `cuda`, `cuda:N`.
pub fn parse_device(text: &str) -> crate::Result<Device> {
    parse(text).map_err(crate::Error::Invalid)
}

fn parse(text: &str) -> Result<Device, String> {
    let text = text.trim().to_ascii_lowercase();
    let (name, index) = match text.split_once(':') {
        Some((name, index)) => (
            name,
            Some(
                index
                    .parse::<usize>()
                    .map_err(|_| format!("device '{text}': '{index}' is not a device number"))?,
            ),
        ),
        None => (text.as_str(), None),
    };
    match name {
        "flex" | "cpu" => {
            if index.is_some() {
                return Err("the flex (CPU) device takes no number".into());
            }
            Ok(Device::flex())
        }
        "wgpu" | "gpu" => wgpu(index),
        "cuda" => cuda(index.unwrap_or(0)),
        other => Err(format!(
            "unknown device '{other}'; use flex, wgpu or cuda[:N] (wgpu and cuda need the \
             cargo features of the same name)"
        )),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu(index: Option<usize>) -> Result<Device, String> {
    use burn::tensor::DeviceKind;
    Ok(match index {
        Some(i) => Device::wgpu(DeviceKind::DiscreteGpu(i)),
        None => Device::wgpu(DeviceKind::DefaultDevice),
    })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu(_index: Option<usize>) -> Result<Device, String> {
    Err("this binary was built without the 'wgpu' feature (cargo build --features wgpu)".into())
}

#[cfg(feature = "cuda")]
fn cuda(index: usize) -> Result<Device, String> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_index: usize) -> Result<Device, String> {
    Err("this binary was built without the 'cuda' feature (cargo build --features cuda)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flex_and_reports_others() {
        assert!(parse_device("flex").is_ok());
        assert!(
            parse_device("tpu")
                .unwrap_err()
                .to_string()
                .contains("unknown device")
        );
        assert!(
            parse_device("cuda:x")
                .unwrap_err()
                .to_string()
                .contains("not a device number")
        );
        #[cfg(not(feature = "cuda"))]
        assert!(
            parse_device("cuda:1")
                .unwrap_err()
                .to_string()
                .contains("without the 'cuda' feature")
        );
    }
}
