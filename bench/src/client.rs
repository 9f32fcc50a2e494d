//! The benchmark's HTTP client: one request at a time, or many concurrent clients for a while.

use std::time::{Duration, Instant};

use reqwest::{Client, Url};

use crate::BoxError;
use crate::stats::Samples;

/// One GET, read to the end; an error unless the status is a success.
pub async fn get(client: &Client, url: &Url, token: Option<&str>) -> Result<impl AsRef<[u8]> + use<>, BoxError> {
    let mut request = client.get(url.clone());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status} {}", String::from_utf8_lossy(&body)).into());
    }
    Ok(body)
}

/// What a load of concurrent clients achieved.
#[derive(Debug)]
pub struct Load {
    /// Requests answered per second, all clients together.
    pub per_second: f64,
    /// The latency of every request.
    pub samples: Samples,
}

/// `concurrency` clients, each sending GETs one after another for `duration`, cycling
/// through `urls` (client `c` starts at `urls[c]`).
pub async fn load(
    client: &Client,
    urls: &[Url],
    token: Option<&str>,
    concurrency: usize,
    duration: Duration,
) -> Result<Load, BoxError> {
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (client, urls, token) = (client.clone(), urls.to_vec(), token.map(str::to_owned));
            tokio::spawn(async move {
                let mut samples = Samples::default();
                let mut next = worker;
                while Instant::now() < deadline {
                    let request = Instant::now();
                    get(&client, &urls[next % urls.len()], token.as_deref()).await?;
                    samples.push(request.elapsed());
                    next += concurrency;
                }
                Ok::<_, BoxError>(samples)
            })
        })
        .collect();
    let mut samples = Samples::default();
    for worker in workers {
        samples.extend(worker.await??);
    }
    let per_second = samples.len() as f64 / started.elapsed().as_secs_f64();
    Ok(Load { per_second, samples })
}
