import CHDF5
import Glibc

// Every raw libhdf5 call of the module lives in this file. Callers hold `HDF5Library.locked`.

/// Context for turning a failed call into an `HDF5Error`.
struct CallSite {
    let file: String
    let object: String

    func fail(_ operation: String, _ detail: String? = nil) -> HDF5Error {
        HDF5Error(file: file, object: object, operation: operation, detail: detail ?? HDF5Library.takeErrorText())
    }

    func check(_ id: hid_t, _ operation: String) throws -> hid_t {
        if id < 0 { throw fail(operation) }
        return id
    }

    func check(_ status: herr_t, _ operation: String) throws {
        if status < 0 { throw fail(operation) }
    }

    func at(_ object: String) -> CallSite { CallSite(file: file, object: object) }
}

// MARK: - Describing types, spaces and layouts

func describeDatatype(_ type: hid_t, _ site: CallSite) throws -> HDF5Datatype {
    let rawClass = H5Tget_class(type)
    let size = H5Tget_size(type)
    if rawClass.rawValue < 0 || size == 0 { throw site.fail("read datatype") }
    let order: HDF5Datatype.ByteOrder
    switch H5Tget_order(type) {
    case H5T_ORDER_LE: order = .littleEndian
    case H5T_ORDER_BE: order = .bigEndian
    default: order = .none
    }
    let precision = Int(H5Tget_precision(type))
    let bitOffset = Int(max(0, H5Tget_offset(type)))
    switch rawClass {
    case H5T_INTEGER:
        return HDF5Datatype(
            typeClass: .integer, size: size, byteOrder: order, signed: H5Tget_sign(type) == H5T_SGN_2,
            precision: precision, bitOffset: bitOffset)
    case H5T_FLOAT:
        var spos = 0
        var epos = 0
        var esize = 0
        var mpos = 0
        var msize = 0
        try site.check(H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize), "read float fields")
        let fields = HDF5Datatype.FloatFields(
            signPosition: spos, exponentPosition: epos, exponentSize: esize, mantissaPosition: mpos,
            mantissaSize: msize, exponentBias: H5Tget_ebias(type))
        return HDF5Datatype(
            typeClass: .float, size: size, byteOrder: order, precision: precision, bitOffset: bitOffset,
            floatFields: fields)
    case H5T_STRING:
        let variable = H5Tis_variable_str(type) > 0
        let format = HDF5Datatype.StringFormat(
            variableLength: variable, utf8: H5Tget_cset(type) == H5T_CSET_UTF8,
            padding: Int(H5Tget_strpad(type).rawValue))
        return HDF5Datatype(typeClass: .string, size: size, byteOrder: .none, string: format)
    case H5T_OPAQUE:
        var tag = ""
        if let raw = H5Tget_tag(type) {
            tag = String(cString: raw)
            H5free_memory(raw)
        }
        return HDF5Datatype(typeClass: .opaque, size: size, byteOrder: .none, opaqueTag: tag)
    case H5T_ENUM:
        let base = OwnedID(try site.check(H5Tget_super(type), "read enumeration base type"), .datatype)
        let baseSize = H5Tget_size(base.id)
        let baseOrder: HDF5Datatype.ByteOrder = H5Tget_order(base.id) == H5T_ORDER_BE ? .bigEndian : .littleEndian
        let count = H5Tget_nmembers(type)
        if count < 0 { throw site.fail("read enumeration members") }
        var members: [HDF5Datatype.EnumMember] = []
        for index in 0..<UInt32(count) {
            guard let rawName = H5Tget_member_name(type, index) else { throw site.fail("read enumeration member") }
            let name = String(cString: rawName)
            H5free_memory(rawName)
            var value = [UInt8](repeating: 0, count: baseSize)
            try site.check(
                value.withUnsafeMutableBytes { H5Tget_member_value(type, index, $0.baseAddress) },
                "read enumeration value")
            members.append(.init(name: name, value: value))
        }
        return HDF5Datatype(
            typeClass: .enumeration, size: size, byteOrder: .none, signed: H5Tget_sign(base.id) == H5T_SGN_2,
            enumBase: .init(size: baseSize, signed: H5Tget_sign(base.id) == H5T_SGN_2, byteOrder: baseOrder),
            enumMembers: members)
    case H5T_BITFIELD: return HDF5Datatype(typeClass: .bitfield, size: size, byteOrder: order)
    case H5T_COMPOUND: return HDF5Datatype(typeClass: .compound, size: size, byteOrder: .none)
    case H5T_REFERENCE: return HDF5Datatype(typeClass: .reference, size: size, byteOrder: .none)
    case H5T_ARRAY: return HDF5Datatype(typeClass: .array, size: size, byteOrder: .none)
    case H5T_VLEN: return HDF5Datatype(typeClass: .variableLength, size: size, byteOrder: .none)
    default: return HDF5Datatype(typeClass: .time, size: size, byteOrder: order)
    }
}

func describeDataspace(_ space: hid_t, _ site: CallSite) throws -> HDF5Dataspace {
    switch H5Sget_simple_extent_type(space) {
    case H5S_SCALAR: return .scalar
    case H5S_NULL: return HDF5Dataspace(kind: .null)
    case H5S_SIMPLE:
        let rank = H5Sget_simple_extent_ndims(space)
        if rank < 0 { throw site.fail("read dataspace") }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        var maxDims = [hsize_t](repeating: 0, count: Int(rank))
        if H5Sget_simple_extent_dims(space, &dims, &maxDims) < 0 { throw site.fail("read dataspace") }
        return HDF5Dataspace(
            kind: .simple, dimensions: dims.map { UInt64($0) },
            maximumDimensions: maxDims.map { $0 == hsize_t.max ? nil : UInt64($0) })
    default: throw site.fail("read dataspace", "unknown dataspace class")
    }
}

func describeLayout(_ dataset: hid_t, _ site: CallSite) throws -> HDF5Layout {
    let plist = OwnedID(try site.check(H5Dget_create_plist(dataset), "read dataset creation properties"), .propertyList)
    let kind: HDF5Layout.Kind
    switch H5Pget_layout(plist.id) {
    case H5D_COMPACT: kind = .compact
    case H5D_CONTIGUOUS: kind = .contiguous
    case H5D_CHUNKED: kind = .chunked
    case H5D_VIRTUAL: kind = .virtual
    default: throw site.fail("read dataset layout")
    }
    // Both read other files by path (any file, /etc/shadow as well): a checkpoint is one file here.
    if kind == .virtual {
        throw site.fail(
            "read dataset", "it is a virtual dataset (its data lives in other files), which pbrepo does not read")
    }
    if H5Pget_external_count(plist.id) > 0 {
        throw site.fail("read dataset", "its data is stored in external files, which pbrepo does not read")
    }
    guard kind == .chunked else { return HDF5Layout(kind: kind) }
    let rank = H5Pget_chunk(plist.id, 0, nil)
    if rank < 0 { throw site.fail("read chunk shape") }
    var chunk = [hsize_t](repeating: 0, count: Int(rank))
    if H5Pget_chunk(plist.id, rank, &chunk) < 0 { throw site.fail("read chunk shape") }
    var filters: [HDF5Layout.Filter] = []
    let count = H5Pget_nfilters(plist.id)
    for index in 0..<max(0, count) {
        var flags: UInt32 = 0
        var valueCount = 16
        var values = [UInt32](repeating: 0, count: 16)
        var name = [CChar](repeating: 0, count: 256)
        var config: UInt32 = 0
        let id = H5Pget_filter2(plist.id, UInt32(index), &flags, &valueCount, &values, 256, &name, &config)
        if id < 0 { throw site.fail("read filter pipeline") }
        let nameText = name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        filters.append(
            .init(id: Int(id), flags: flags, clientData: Array(values.prefix(min(valueCount, 16))), name: nameText))
    }
    return HDF5Layout(kind: kind, chunkDimensions: chunk.map { UInt64($0) }, filters: filters)
}

// MARK: - Making types, spaces and layouts

func makeDatatype(_ type: HDF5Datatype, _ site: CallSite) throws -> OwnedID {
    func order(_ byteOrder: HDF5Datatype.ByteOrder) -> H5T_order_t {
        byteOrder == .bigEndian ? H5T_ORDER_BE : H5T_ORDER_LE
    }
    switch type.typeClass {
    case .integer:
        let id = OwnedID(try site.check(H5Tcopy(chdf5_t_std_i8le()), "make integer type"), .datatype)
        try site.check(H5Tset_size(id.id, type.size), "set integer size")
        try site.check(H5Tset_order(id.id, order(type.byteOrder)), "set byte order")
        try site.check(H5Tset_sign(id.id, type.signed ? H5T_SGN_2 : H5T_SGN_NONE), "set integer sign")
        // Growing a copied 8-bit type keeps its 8-bit precision: always set precision and offset explicitly.
        try site.check(H5Tset_precision(id.id, type.precision), "set precision")
        try site.check(H5Tset_offset(id.id, type.bitOffset), "set bit offset")
        return id
    case .float:
        guard let fields = type.floatFields else { throw site.fail("make float type", "missing bit fields") }
        let template = type.size > 4 ? chdf5_t_ieee_f64le() : chdf5_t_ieee_f32le()
        let id = OwnedID(try site.check(H5Tcopy(template), "make float type"), .datatype)
        // Fields first (they must fit the template's width), then shrink or grow to the real size.
        try site.check(
            H5Tset_fields(
                id.id, fields.signPosition, fields.exponentPosition, fields.exponentSize, fields.mantissaPosition,
                fields.mantissaSize), "set float fields")
        try site.check(H5Tset_size(id.id, type.size), "set float size")
        if type.precision != type.size * 8 || type.bitOffset != 0 {
            try site.check(H5Tset_precision(id.id, type.precision), "set precision")
            try site.check(H5Tset_offset(id.id, type.bitOffset), "set bit offset")
        }
        try site.check(H5Tset_ebias(id.id, fields.exponentBias), "set exponent bias")
        try site.check(H5Tset_order(id.id, order(type.byteOrder)), "set byte order")
        return id
    case .string:
        guard let format = type.string else { throw site.fail("make string type", "missing string format") }
        let id = OwnedID(try site.check(H5Tcopy(chdf5_t_c_s1()), "make string type"), .datatype)
        try site.check(H5Tset_size(id.id, format.variableLength ? chdf5_t_variable() : type.size), "set string size")
        try site.check(H5Tset_cset(id.id, format.utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII), "set character set")
        try site.check(H5Tset_strpad(id.id, H5T_str_t(rawValue: Int32(format.padding))), "set string padding")
        return id
    case .opaque:
        let id = OwnedID(try site.check(H5Tcreate(H5T_OPAQUE, type.size), "make opaque type"), .datatype)
        if let tag = type.opaqueTag, !tag.isEmpty { try site.check(H5Tset_tag(id.id, tag), "set opaque tag") }
        return id
    case .enumeration:
        guard let base = type.enumBase else { throw site.fail("make enumeration type", "missing base type") }
        let baseType = try makeDatatype(
            .integer(bytes: base.size, signed: base.signed, byteOrder: base.byteOrder), site)
        let id = OwnedID(try site.check(H5Tenum_create(baseType.id), "make enumeration type"), .datatype)
        for member in type.enumMembers {
            try site.check(
                member.value.withUnsafeBytes { H5Tenum_insert(id.id, member.name, $0.baseAddress) },
                "add enumeration member")
        }
        return id
    default:
        throw site.fail("make datatype", "writing \(type.typeClass.rawValue) datatypes is not supported")
    }
}

func makeDataspace(_ space: HDF5Dataspace, _ site: CallSite) throws -> OwnedID {
    switch space.kind {
    case .scalar: return OwnedID(try site.check(H5Screate(H5S_SCALAR), "make dataspace"), .dataspace)
    case .null: return OwnedID(try site.check(H5Screate(H5S_NULL), "make dataspace"), .dataspace)
    case .simple:
        let dims = space.dimensions.map { hsize_t($0) }
        let maxDims = space.maximumDimensions.map { $0.map { hsize_t($0) } ?? hsize_t.max }
        return OwnedID(
            try site.check(H5Screate_simple(Int32(dims.count), dims, maxDims), "make dataspace"), .dataspace)
    }
}

// MARK: - Attributes

func readAttributes(of object: hid_t, _ site: CallSite) throws -> [HDF5Attribute] {
    var info = H5O_info_t()
    try site.check(H5Oget_info2(object, &info, UInt32(H5O_INFO_NUM_ATTRS)), "count attributes")
    var attributes: [HDF5Attribute] = []
    for index in 0..<info.num_attrs {
        let attribute = OwnedID(
            try site.check(
                H5Aopen_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, index, chdf5_p_default(), chdf5_p_default()),
                "open attribute"), .attribute)
        let nameLength = H5Aget_name(attribute.id, 0, nil)
        if nameLength < 0 { throw site.fail("read attribute name") }
        var nameBytes = [CChar](repeating: 0, count: nameLength + 1)
        if H5Aget_name(attribute.id, nameLength + 1, &nameBytes) < 0 { throw site.fail("read attribute name") }
        let name = nameBytes.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let here = site.at(site.object + "@" + name)
        let fileType = OwnedID(try here.check(H5Aget_type(attribute.id), "read attribute type"), .datatype)
        let space = OwnedID(try here.check(H5Aget_space(attribute.id), "read attribute shape"), .dataspace)
        let datatype = try describeDatatype(fileType.id, here)
        let dataspace = try describeDataspace(space.id, here)
        guard let count = dataspace.elementCount, count <= UInt64(Int32.max) else {
            throw here.fail("read attribute", "attribute has an impossible element count")
        }
        let value: HDF5AttributeValue
        if datatype.typeClass == .string && datatype.string?.variableLength == true {
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: Int(count))
            try here.check(H5Aread(attribute.id, fileType.id, &pointers), "read attribute")
            value = .strings(pointers.map { $0.map { String(cString: $0) } ?? "" })
            _ = H5Dvlen_reclaim(fileType.id, space.id, chdf5_p_default(), &pointers)
        } else if datatype.isFixedSizeData {
            var bytes = [UInt8](repeating: 0, count: Int(count) * datatype.size)
            if !bytes.isEmpty {
                try here.check(
                    bytes.withUnsafeMutableBytes { H5Aread(attribute.id, fileType.id, $0.baseAddress) },
                    "read attribute")
            }
            value = .raw(bytes)
        } else {
            throw here.fail("read attribute", "\(datatype.typeClass.rawValue) attributes are not supported")
        }
        attributes.append(HDF5Attribute(name: name, datatype: datatype, dataspace: dataspace, value: value))
    }
    return attributes
}

func writeAttribute(_ attribute: HDF5Attribute, to object: hid_t, _ site: CallSite) throws {
    let here = site.at(site.object + "@" + attribute.name)
    let type = try makeDatatype(attribute.datatype, here)
    let space = try makeDataspace(attribute.dataspace, here)
    let id = OwnedID(
        try here.check(
            H5Acreate2(object, attribute.name, type.id, space.id, chdf5_p_default(), chdf5_p_default()),
            "create attribute"), .attribute)
    switch attribute.value {
    case .strings(let strings):
        var cStrings = strings.map { strdup($0) }
        defer { for string in cStrings { free(string) } }
        try here.check(H5Awrite(id.id, type.id, &cStrings), "write attribute")
    case .raw(let bytes):
        guard !bytes.isEmpty else { return }
        try here.check(bytes.withUnsafeBytes { H5Awrite(id.id, type.id, $0.baseAddress) }, "write attribute")
    }
}

// MARK: - Tree walk

/// The names of a group's links in name order, in one pass: looking each up by index walks an old-style group's
/// B-tree from its start every time, which made reading a file of 20 000 datasets take 9 s instead of 1.
func linkNames(of group: hid_t, _ here: CallSite) throws -> [String] {
    final class Names {
        var list: [String] = []
    }
    let names = Names()
    var position: hsize_t = 0
    let status = withExtendedLifetime(names) {
        H5Literate(
            group, H5_INDEX_NAME, H5_ITER_INC, &position,
            { _, name, _, context in
                guard let name, let context else { return -1 }
                Unmanaged<Names>.fromOpaque(context).takeUnretainedValue().list.append(String(cString: name))
                return 0
            }, Unmanaged.passUnretained(names).toOpaque())
    }
    try here.check(status, "list group")
    return names.list
}

func walkGroup(
    _ group: hid_t, path: String, _ site: CallSite, visitedGroups: inout Set<UInt64>, into nodes: inout [HDF5Node]
) throws {
    let here = site.at(path.isEmpty ? "/" : path)
    nodes.append(.group(path: path, attributes: try readAttributes(of: group, here)))
    for name in try linkNames(of: group, here) {
        let childPath = path.isEmpty ? name : path + "/" + name
        let child = here.at(childPath)
        var link = H5L_info_t()
        try child.check(H5Lget_info(group, name, &link, chdf5_p_default()), "read link")
        // Soft and external links point at objects listed under their own paths (or in other files).
        guard link.type == H5L_TYPE_HARD else { continue }
        var object = H5O_info_t()
        try child.check(
            H5Oget_info_by_name2(group, name, &object, UInt32(H5O_INFO_BASIC), chdf5_p_default()), "read object")
        switch object.type {
        case H5O_TYPE_GROUP:
            guard visitedGroups.insert(UInt64(object.addr)).inserted else { continue }
            let sub = OwnedID(try child.check(H5Gopen2(group, name, chdf5_p_default()), "open group"), .group)
            try walkGroup(sub.id, path: childPath, site, visitedGroups: &visitedGroups, into: &nodes)
        case H5O_TYPE_DATASET:
            let dataset = OwnedID(try child.check(H5Dopen2(group, name, chdf5_p_default()), "open dataset"), .dataset)
            nodes.append(.dataset(try describeDataset(dataset.id, path: childPath, child)))
        default:
            continue
        }
    }
}

func describeDataset(_ dataset: hid_t, path: String, _ site: CallSite) throws -> HDF5DatasetInfo {
    let type = OwnedID(try site.check(H5Dget_type(dataset), "read dataset type"), .datatype)
    let space = OwnedID(try site.check(H5Dget_space(dataset), "read dataset shape"), .dataspace)
    let offset = H5Dget_offset(dataset)
    return HDF5DatasetInfo(
        path: path, datatype: try describeDatatype(type.id, site), dataspace: try describeDataspace(space.id, site),
        layout: try describeLayout(dataset, site), fileOffset: offset == chdf5_haddr_undef() ? nil : UInt64(offset),
        storageSize: UInt64(H5Dget_storage_size(dataset)), attributes: try readAttributes(of: dataset, site))
}

/// The type to read a dataset with: `memoryType` when given, else the dataset's own stored type.
func memoryDatatype(of dataset: hid_t, _ memoryType: HDF5Datatype?, _ site: CallSite) throws -> OwnedID {
    if let memoryType { return try makeDatatype(memoryType, site) }
    return OwnedID(try site.check(H5Dget_type(dataset), "read dataset type"), .datatype)
}

func readDatasetBytes(
    _ file: hid_t, path: String, memoryType: HDF5Datatype?, into buffer: UnsafeMutableRawBufferPointer, _ site: CallSite
) throws {
    let dataset = OwnedID(try site.check(H5Dopen2(file, path, chdf5_p_default()), "open dataset"), .dataset)
    let type = try memoryDatatype(of: dataset.id, memoryType, site)
    let space = OwnedID(try site.check(H5Dget_space(dataset.id), "read dataset shape"), .dataspace)
    let points = H5Sget_simple_extent_npoints(space.id)
    let needed = Int(points) * H5Tget_size(type.id)
    guard points >= 0, needed == buffer.count else {
        throw site.fail("read dataset", "buffer of \(buffer.count) bytes for \(needed) bytes of data")
    }
    guard needed > 0 else { return }
    try site.check(
        H5Dread(dataset.id, type.id, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), buffer.baseAddress),
        "read dataset")
}

/// Reads rows `start ..< start + count` of a dataset's first dimension (all of every other dimension).
func readDatasetRows(
    _ file: hid_t, path: String, memoryType: HDF5Datatype?, start: UInt64, count: UInt64,
    into buffer: UnsafeMutableRawBufferPointer, _ site: CallSite
) throws {
    let dataset = OwnedID(try site.check(H5Dopen2(file, path, chdf5_p_default()), "open dataset"), .dataset)
    let type = try memoryDatatype(of: dataset.id, memoryType, site)
    let fileSpace = OwnedID(try site.check(H5Dget_space(dataset.id), "read dataset shape"), .dataspace)
    let shape = try describeDataspace(fileSpace.id, site)
    guard shape.kind == .simple, let rows = shape.dimensions.first, start + count <= rows else {
        throw site.fail("read dataset rows", "rows \(start)..<\(start + count) outside the dataset")
    }
    var offsets = [hsize_t](repeating: 0, count: shape.dimensions.count)
    var counts = shape.dimensions.map { hsize_t($0) }
    offsets[0] = hsize_t(start)
    counts[0] = hsize_t(count)
    let needed = counts.reduce(1, *) * hsize_t(H5Tget_size(type.id))
    guard needed == hsize_t(buffer.count) else {
        throw site.fail("read dataset rows", "buffer of \(buffer.count) bytes for \(needed) bytes of data")
    }
    guard needed > 0 else { return }
    try site.check(H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, offsets, nil, counts, nil), "select rows")
    let memorySpace = OwnedID(
        try site.check(H5Screate_simple(Int32(counts.count), counts, nil), "make memory dataspace"), .dataspace)
    try site.check(
        H5Dread(dataset.id, type.id, memorySpace.id, fileSpace.id, chdf5_p_default(), buffer.baseAddress),
        "read dataset rows")
}

// MARK: - Files

/// File access without libhdf5's flock-based file locking. A clean-clone test run once failed to reopen a file the
/// process had just written and closed ("unable to lock file, errno = 11"); the cause was not pinned down (a child
/// process did not reproduce it). The lock protects nothing pbrepo needs: it never modifies an HDF5 file in place,
/// it writes new files under temporary names and renames them.
func unlockedFileAccess(_ site: CallSite) throws -> OwnedID {
    let plist = OwnedID(try site.check(H5Pcreate(chdf5_p_file_access()), "make file access properties"), .propertyList)
    try site.check(H5Pset_file_locking(plist.id, false, true), "disable file locking")
    return plist
}

func openFile(_ path: String, _ site: CallSite) throws -> OwnedID {
    let access = try unlockedFileAccess(site)
    return OwnedID(try site.check(H5Fopen(path, chdf5_f_acc_rdonly(), access.id), "open file"), .file)
}

func createFile(_ path: String, overwrite: Bool, _ site: CallSite) throws -> OwnedID {
    let flags = overwrite ? chdf5_f_acc_trunc() : chdf5_f_acc_excl()
    let access = try unlockedFileAccess(site)
    return OwnedID(try site.check(H5Fcreate(path, flags, chdf5_p_default(), access.id), "create file"), .file)
}

func isHDF5File(_ path: String) -> Bool { H5Fis_hdf5(path) > 0 }

func openObject(_ file: hid_t, _ path: String, _ site: CallSite) throws -> OwnedID {
    OwnedID(try site.check(H5Oopen(file, path.isEmpty ? "/" : path, chdf5_p_default()), "open object"), .object)
}

func createGroupObject(_ file: hid_t, _ path: String, _ site: CallSite) throws -> OwnedID {
    OwnedID(
        try site.check(
            H5Gcreate2(file, path, chdf5_p_default(), chdf5_p_default(), chdf5_p_default()), "create group"), .group)
}

func createDatasetObject(
    _ file: hid_t, _ info: HDF5DatasetInfo, data: UnsafeRawBufferPointer, _ site: CallSite
) throws {
    let type = try makeDatatype(info.datatype, site)
    let space = try makeDataspace(info.dataspace, site)
    let plist = OwnedID(try site.check(H5Pcreate(chdf5_p_dataset_create()), "make dataset properties"), .propertyList)
    switch info.layout.kind {
    case .chunked:
        let chunk = info.layout.chunkDimensions.map { hsize_t($0) }
        try site.check(H5Pset_chunk(plist.id, Int32(chunk.count), chunk), "set chunk shape")
        for filter in info.layout.filters {
            try site.check(
                H5Pset_filter(
                    plist.id, H5Z_filter_t(filter.id), filter.flags, filter.clientData.count, filter.clientData),
                "set filter \(filter.name.isEmpty ? String(filter.id) : filter.name)")
        }
    case .compact:
        try site.check(H5Pset_layout(plist.id, H5D_COMPACT), "set compact layout")
    case .contiguous, .virtual:
        break
    }
    let dataset = OwnedID(
        try site.check(
            H5Dcreate2(file, info.path, type.id, space.id, chdf5_p_default(), plist.id, chdf5_p_default()),
            "create dataset"), .dataset)
    if data.count > 0 {
        try site.check(
            H5Dwrite(dataset.id, type.id, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), data.baseAddress),
            "write dataset")
    }
    for attribute in info.attributes { try writeAttribute(attribute, to: dataset.id, site) }
}
