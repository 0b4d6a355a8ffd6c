//! The client API's wire, end to end: messages of any size cross whole.

mod common;

use coffer::client::{ReadConsistency, SetSecret};
use common::TestCluster;

/// The client API's codec starts its buffers at 1,000 bytes
/// (`proto::codec`): requests and answers many times that size cross whole,
/// both ways — the largest value allowed, and a page of many secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_far_larger_than_the_first_buffer_cross_whole() {
    let cluster = TestCluster::start(3).await;
    let client = cluster.client();
    client.create_vault("v", 0, false).await.unwrap();
    let largest: String = (0..25 * 1024).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    client.set_secret(SetSecret::new("v", "large", largest.clone())).await.unwrap();
    let read = client.get_secret("v", "large", None, ReadConsistency::Linearizable).await.unwrap();
    assert_eq!(read.value, largest);
    for i in 0..60 {
        client.set_secret(SetSecret::new("v", &format!("secret-{i:03}"), "x")).await.unwrap();
    }
    let page = client.list_secrets("v", 100, "", ReadConsistency::Linearizable).await.unwrap();
    assert_eq!(page.secrets.len(), 61);
    assert!(prost::Message::encoded_len(&page) > 4 * 1000, "{} bytes", prost::Message::encoded_len(&page));
    cluster.shutdown().await;
}
