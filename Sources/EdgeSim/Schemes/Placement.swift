/// Placement steps several schemes share.
enum Placement {
    /// Users of each model per node (by association).
    static func demand(_ network: EdgeNetwork) -> [[Int]] {
        var counts = [[Int]](
            repeating: [Int](repeating: 0, count: network.repository.models.count), count: network.scenario.nodes)
        for (user, model) in network.requests.enumerated() { counts[network.association[user]][model] += 1 }
        return counts
    }

    static func fill(_ plan: inout CachePlan, node n: Int, weight: [Double], repository: ModelCatalog, capacity: Double)
    {
        var used = plan.storedBytes(node: n, repository: repository)
        let order = weight.indices.filter { weight[$0] > 0 }.sorted {
            let (a, b) = (
                weight[$0] / max(repository.blockBytes[$0], 1), weight[$1] / max(repository.blockBytes[$1], 1)
            )
            return a != b ? a > b : $0 < $1
        }
        for k in order where !plan.cached[n][k] && used + repository.blockBytes[k] <= capacity {
            plan.cached[n][k] = true
            used += repository.blockBytes[k]
        }
    }

}
